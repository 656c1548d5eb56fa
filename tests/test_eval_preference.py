"""`tunesmith eval RUN --pairs FILE`: each model's log-probabilities of both answers equal an independent
forward over the rendered answer, the metrics follow from them, and swapping chosen and rejected
mirrors every number. Bad input is refused with the file and why."""

from __future__ import annotations

import json

import pytest
import torch

from run_factory import make_run
from tunesmith.cli import main
from tunesmith.errors import DataError
from tunesmith.evaluate.preference import evaluate_pairs
from tunesmith.infer.target import open_target
from tunesmith.records.formats import read
from tunesmith.text.render import render

PAIRS = [("What colour is the sky?", "Blue, on a clear day.", "Green."),
         ("Say hello.", "Hello!", "I will not."),
         ("2+2?", "4", "It is 5, probably."),
         ("Name a fruit.", "An apple.", "A car is a fruit."),
         ("Capital of France?", "Paris.", "London, I think.")]


def _write(path, pairs, swap=False):
    rows = [{"prompt": q, "chosen": r if swap else c, "rejected": c if swap else r} for q, c, r in pairs]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    return make_run(tmp_path_factory.mktemp("runs") / "pair-run", "lora", base_dir=tiny_model_dir)


def _answer_logp(model, target, example) -> float:
    """log p(answer) by a plain forward over the rendered record (labels: the answer and its end token)."""
    r = render(example, target.template, target.tokenizer, max_seq_len=10_000, train_on="last")
    ids, labels = torch.tensor([r.input_ids]), torch.tensor(r.labels[1:])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    keep = labels != -100
    return float(logp[keep].gather(-1, labels[keep].unsqueeze(-1)).sum())


def test_scores_equal_a_plain_forward_and_the_metrics_follow(run_dir, tmp_path):
    path = _write(tmp_path / "pairs.jsonl", PAIRS)
    target = open_target(run_dir)
    ev = evaluate_pairs(target, path, base=True, batch_size=2)
    examples = list(read(path))
    with torch.no_grad():
        tuned = [(_answer_logp(target.model, target, e), _answer_logp(target.model, target, e.with_answer(e.rejected)))
                 for e in examples]
        with target.base() as base_model:
            base = [(_answer_logp(base_model, target, e), _answer_logp(base_model, target, e.with_answer(e.rejected)))
                    for e in examples]
    flat = lambda pairs: [x for p in pairs for x in p]  # noqa: E731
    assert flat(ev.tuned.logps) == pytest.approx(flat(tuned), abs=1e-3)
    assert flat(ev.base.logps) == pytest.approx(flat(base), abs=1e-3)
    assert flat(ev.tuned.logps) != pytest.approx(flat(ev.base.logps), abs=1e-2)  # the run differs from its base
    wins = sum(c > r for c, r in tuned) / len(tuned)
    assert ev.tuned.summary()["preference_accuracy"] == pytest.approx(wins)
    reward = ev.reward()
    margins = [0.1 * ((tc - tr) - (bc - br)) for (tc, tr), (bc, br) in zip(tuned, base)]
    assert reward["mean_reward_margin"] == pytest.approx(sum(margins) / len(margins), abs=1e-3)
    assert reward["reward_accuracy"] == pytest.approx(sum(m > 0 for m in margins) / len(margins))


def test_swapping_chosen_and_rejected_mirrors_every_number(run_dir, tmp_path):
    target = open_target(run_dir)
    ev = evaluate_pairs(target, _write(tmp_path / "a.jsonl", PAIRS), base=True)
    swapped = evaluate_pairs(target, _write(tmp_path / "b.jsonl", PAIRS, swap=True), base=True)
    a, b = ev.tuned.summary(), swapped.tuned.summary()
    assert b["preference_accuracy"] == pytest.approx(1 - a["preference_accuracy"])
    assert b["mean_logp_margin"] == pytest.approx(-a["mean_logp_margin"], abs=1e-4)
    assert swapped.reward()["mean_reward_margin"] == pytest.approx(-ev.reward()["mean_reward_margin"], abs=1e-4)


def test_cli_writes_the_table_and_refuses_a_file_without_pairs(run_dir, tmp_path, capsys):
    path = _write(tmp_path / "pairs.jsonl", PAIRS)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"prompt": "q", "chosen": "same", "rejected": "same"}) + "\n")  # left out, counted
    out = tmp_path / "report"
    assert main(["eval", str(run_dir), "--pairs", str(path), "--base", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "5 preference pairs" in printed and "(1 left out)" in printed and "reward accuracy (beta 0.1)" in printed
    saved = json.loads((out / "pairs.json").read_text(encoding="utf-8"))
    assert saved["pairs"] == 5 and len(saved["per_pair"]) == 5 and "same text" in saved["skipped"][0]
    assert {d["metric"] for d in saved["differences"]} == {"preference accuracy", "per-token accuracy",
                                                           "mean log-prob margin"}
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"instruction": "q", "output": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="sft.jsonl: no preference pair to score"):
        evaluate_pairs(open_target(run_dir), sft)
