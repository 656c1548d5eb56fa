"""tunesmith eval: masked loss equals the training objective, multiple choice picks by letter logits,
base vs tuned side by side with paired intervals, reports written (markdown + HTML)."""

import json
from pathlib import Path

import pytest
import torch

from run_factory import make_run
from tunesmith import cli
from tunesmith.records.example import Example
from tunesmith.evaluate import report
from tunesmith.evaluate.choice import answer_tokens, evaluate_choice, load_subjects, read_csv
from tunesmith.evaluate.bootstrap import paired
from tunesmith.evaluate.compare import evaluate
from tunesmith.evaluate.loss import masked_loss, rendered_set
from tunesmith.infer.generate import Sampling
from tunesmith.infer.target import open_target

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "eval"
RECORDS = [
    {"instruction": "What is the capital of France?", "output": "Paris."},
    {"instruction": "把这句话翻译成英文：你好", "output": "Hello."},
    {"instruction": "Name a color.", "input": "Pick a warm one.", "output": "Red."},
    {"instruction": "<script>alert(1)</script> escape me", "output": "a < b & c"},
    {"instruction": "一年有几个季节？", "output": "四个季节：春、夏、秋、冬。"},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir):
    return make_run(tmp_path_factory.mktemp("runs") / "eval-run", "lora", base_dir=tiny_model_dir)


@pytest.fixture(scope="module")
def val_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "val.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS) + "{broken\n")
    return path


@pytest.mark.parametrize("method", ["lora", "prompt", "prefix"])
def test_masked_loss_is_the_training_loss(tmp_path, tiny_model_dir, method):
    target = open_target(make_run(tmp_path / method, method, base_dir=tiny_model_dir))
    examples = [Example.single(r["instruction"], r["output"]) for r in RECORDS]
    rendered, skipped = rendered_set(examples, target.template, target.tokenizer, max_seq_len=256)
    assert not skipped
    got = masked_loss(target.model, rendered, target.tokenizer.pad_token_id, batch_size=3, progress=False)
    total, count = 0.0, 0
    for r in rendered:  # one record at a time, through transformers/PEFT's own loss
        ids, labels = torch.tensor([r.input_ids]), torch.tensor([r.labels])
        with torch.no_grad():
            loss = target.model(input_ids=ids, labels=labels).loss.item()
        n = sum(1 for x in r.labels[1:] if x != -100)
        total, count = total + loss * n, count + n
    assert got.tokens == count
    assert got.loss == pytest.approx(total / count, rel=1e-5)
    assert got.perplexity == pytest.approx(torch.tensor(total / count).exp().item(), rel=1e-5)


def test_read_choice_layouts():
    ceval = load_subjects(EXAMPLES / "ceval")
    assert [s.name for s in ceval] == ["common_sense"]
    assert len(ceval[0].questions) == 6 and len(ceval[0].dev) == 3
    assert ceval[0].questions[0].options == {"A": "东方", "B": "西方", "C": "南方", "D": "北方"}
    mmlu = load_subjects(EXAMPLES / "mmlu")
    assert mmlu[0].name == "elementary_mathematics" and mmlu[0].questions[1].answer == "B"


def test_cmmlu_layout_and_bad_answers(tmp_path):
    f = tmp_path / "test" / "logic.csv"
    f.parent.mkdir()
    f.write_text(",Question,A,B,C,D,Answer\n0,1+1=?,1,2,3,4,B\n", encoding="utf-8")
    assert read_csv(f)[0].answer == "B"
    f.write_text(",Question,A,B,C,D,Answer\n0,1+1=?,1,2,3,4,E\n", encoding="utf-8")
    from tunesmith.errors import DataError

    with pytest.raises(DataError, match=r"logic.csv:2: answer 'E' is not one of the options"):
        read_csv(f)
    with pytest.raises(DataError, match="no .csv files"):
        load_subjects(tmp_path / "nothing-here")


class _Prefers:
    """A model whose next-token logits favour one token: the choice must follow the logits."""

    def __init__(self, model, token_id):
        self.model, self.token_id, self.device = model, token_id, model.device

    def __call__(self, input_ids, **kw):
        out = self.model(input_ids=input_ids, **kw)
        out.logits[..., self.token_id] += 1000.0
        return out


def test_choice_follows_the_letter_logits(run):
    target = open_target(run)
    subjects = load_subjects(EXAMPLES / "mmlu")
    q = subjects[0].questions[0]
    from tunesmith.evaluate.choice import ask

    example, _ = ask(subjects[0], q, shots=2)
    prompt = target.prompt_ids(example)
    answers = answer_tokens(example, len(prompt), q.options, target.template, target.tokenizer)
    # the tiny vocabulary has "▁A" and "▁B" but spells " C" as "▁", "C": letters are told apart either way
    assert [target.tokenizer.decode(answers[k]).strip() for k in "ABCD"] == list("ABCD")
    assert {len(v) for v in answers.values()} == {2} and target.tokenizer.decode(answers["B"][:1]).strip() == "B"
    result = evaluate_choice(_Prefers(target.model, answers["B"][0]), target, subjects, shots=2, progress=False)
    share_b = sum(q.answer == "B" for q in subjects[0].questions) / len(subjects[0].questions)
    assert result.accuracy == pytest.approx(100 * share_b)
    assert all(p["chosen"] == "B" for p in result.predictions)


def test_paired_bootstrap():
    same = paired("m", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (same.delta, same.low, same.high, same.verdict) == (0.0, 0.0, 0.0, "no clear difference")
    better = paired("m", [2.0] * 20, [1.0] * 20)
    assert better.verdict == "tuned better" and better.low == pytest.approx(1.0)
    # one sign convention: tuned − base, also for a loss, where negative is the tuned model's win
    loss = paired("loss", [1.0] * 10, [2.0] * 10, lower_better=True)
    assert loss.delta == pytest.approx(-1.0) and loss.verdict == "tuned better"
    assert paired("loss", [2.0] * 10, [1.0] * 10, lower_better=True).verdict == "base better"
    noisy = paired("m", [1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 1, 0])
    assert noisy.low < 0 < noisy.high


def _scores(label, losses, tokens, answers, refs):
    from tunesmith.evaluate import metrics
    from tunesmith.evaluate.compare import ModelScores
    from tunesmith.evaluate.loss import LossResult

    total = sum(x * n for x, n in zip(losses, tokens))
    loss = LossResult(total / sum(tokens), torch.tensor(total / sum(tokens)).exp().item(), sum(tokens), len(tokens),
                      per_record=losses, per_record_tokens=tokens)
    per_sample, stats = metrics.score_samples(answers, refs)
    return ModelScores(label, loss=loss, generation=metrics.corpus(per_sample, stats), per_sample=per_sample,
                       bleu_stats=stats, answers=answers)


def test_differences_are_the_corpus_numbers_not_means_of_per_record_ones():
    """A long answer weighs more in the loss and BLEU sums n-gram counts: the per-record mean differences (what
    the bootstrap table showed) disagree with the table in size and even sign; the differences now are the table's."""
    from tunesmith.evaluate.compare import differences

    refs = ["the cat sat on the mat today", "a b c d e f g h i j k l", "one two three four five"]
    tuned = _scores("tuned", [1.0, 4.0, 1.0], [100, 2, 2],
                    ["the cat sat on the mat today", "x y z", "one two three four six"], refs)
    base = _scores("base", [2.0, 1.0, 2.0], [100, 2, 2],
                   ["the cat lay on a mat", "a b c d e f g h i j k l", "one two three"], refs)
    diffs = {d.metric: d for d in differences(tuned, base)}
    loss = diffs["loss"]
    assert loss.delta == pytest.approx(tuned.loss.loss - base.loss.loss) and loss.delta < 0   # tuned better...
    per_record_mean = sum(t - b for t, b in zip(tuned.loss.per_record, base.loss.per_record)) / 3
    assert per_record_mean > 0                                                                   # ...not worse
    assert loss.lower_better and loss.verdict in ("tuned better", "no clear difference")
    assert diffs["perplexity"].delta == pytest.approx(tuned.loss.perplexity - base.loss.perplexity)
    bleu = diffs["BLEU-4"]
    assert bleu.delta == pytest.approx(tuned.generation["bleu4"] - base.generation["bleu4"])
    mean_sentence = sum(t["bleu4"] - b["bleu4"] for t, b in zip(tuned.per_sample, base.per_sample)) / 3
    assert abs(bleu.delta - mean_sentence) > 1.0
    for name in ("ROUGE-1", "ROUGE-L", "exact match"):
        key = {"ROUGE-1": "rouge1", "ROUGE-L": "rougeL", "exact match": "exact_match"}[name]
        assert diffs[name].delta == pytest.approx(tuned.generation[key] - base.generation[key])
    for d in diffs.values():
        assert d.low <= d.delta <= d.high and d.n == 3


def test_bootstrap_interval_is_over_corpus_resamples():
    """Resampling the records and recomputing the corpus statistic, by hand, gives the same interval."""
    import numpy as np

    from tunesmith.evaluate import bootstrap

    tuned = [(1.0 * n, n) for n in (5, 1, 9, 2, 7)]
    base = [(1.5 * n + (i % 2), n) for i, (_, n) in enumerate(tuned)]
    d = paired("loss", tuned, base, bootstrap.token_loss, lower_better=True, resamples=400, seed=3)
    rng = np.random.default_rng(3)
    t, b, deltas = np.array(tuned), np.array(base), []
    for _ in range(2):
        counts = rng.multinomial(5, np.full(5, 0.2), size=200)
        for c in counts:
            deltas.append((c @ t[:, 0]) / (c @ t[:, 1]) - (c @ b[:, 0]) / (c @ b[:, 1]))
    assert (d.low, d.high) == pytest.approx(tuple(np.percentile(deltas, [2.5, 97.5])))
    assert d.delta == pytest.approx(t[:, 0].sum() / t[:, 1].sum() - b[:, 0].sum() / b[:, 1].sum())


def test_base_vs_tuned_side_by_side(run, val_file, tiny_model_dir, tmp_path):
    target = open_target(run)
    ev = evaluate(target, data=val_file, choice=EXAMPLES / "ceval", base=True, max_samples=4,
                  sampling=Sampling(max_new_tokens=6), batch_size=2, shots=1, progress=False)
    assert ev.records == 5 and any("val.jsonl:6" in b for b in ev.bad_records)
    assert len(ev.samples) == 4 and len(ev.tuned.answers) == len(ev.base.answers) == 4
    assert ev.samples[2]["prompt"] == "Name a color.\nPick a warm one."   # the Alpaca input is part of the question
    assert ev.tuned.loss.loss != pytest.approx(ev.base.loss.loss)
    assert [d.metric for d in ev.differences] == ["loss", "perplexity", "BLEU-4", "ROUGE-1", "ROUGE-2", "ROUGE-L",
                                                 "exact match", "choice accuracy"]
    # the bootstrap's difference is the table's tuned − base, row for row, and lies inside its interval
    table = {name: (t, b) for name, t, b, _ in report.rows(ev)}
    for d in ev.differences:
        t, b = table[d.metric]
        assert d.delta == pytest.approx(t - b, rel=1e-9, abs=1e-12), d.metric
        assert d.low <= d.delta <= d.high, d.metric
    # the base side really is the base model: same loss as the base folder loaded alone
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    examples = [Example.single(r["instruction"], r["output"], r.get("input")) for r in RECORDS]
    rendered, _ = rendered_set(examples, target.template, target.tokenizer, max_seq_len=256)
    alone = masked_loss(plain, rendered, target.tokenizer.pad_token_id, progress=False)
    assert ev.base.loss.loss == pytest.approx(alone.loss, rel=1e-5)

    paths = report.write(ev, tmp_path / "report")
    html = paths["report.html"].read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = paths["report.md"].read_text()
    assert "| metric | tuned | base | tuned − base |" in md and "Is the difference real?" in md
    assert "tuned − base throughout. For loss and perplexity lower is better" in md
    loss = next(d for d in ev.differences if d.metric == "loss")
    assert f"| loss | {report.fmt(ev.tuned.loss.loss)} | {report.fmt(ev.base.loss.loss)} | {loss.delta:+.4f}" in md
    assert f"| loss (lower is better) | {loss.delta:+.4f} | [{loss.low:+.4f}, {loss.high:+.4f}]" in md
    assert "**Base:**" in md and "**Tuned:**" in md
    results = json.loads(paths["results.json"].read_text())
    assert results["tuned"]["loss"]["loss"] == pytest.approx(ev.tuned.loss.loss)
    lines = paths["predictions.jsonl"].read_text().splitlines()
    assert len(lines) == 4 + 2 * 6 and "tuned_scores" in json.loads(lines[0])


def test_eval_command_end_to_end(run, val_file, capsys):
    rc = cli.main(["eval", str(run), "--data", str(val_file), "--base", "--max-samples", "2",
                   "--max-new-tokens", "4", "--batch-size", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "ROUGE-L" in out and "loss (lower is better): tuned - base" in out
    result = json.loads((run / "eval" / "val" / "results.json").read_text())
    printed = out.split("loss (lower is better): tuned - base ")[1].split(",")[0]
    assert float(printed) == pytest.approx(result["tuned"]["loss"]["loss"] - result["base"]["loss"]["loss"], abs=1e-4)
    assert float(printed) == pytest.approx(result["differences"][0]["delta"], abs=1e-4)
    assert (run / "eval" / "val" / "report.html").is_file() and (run / "eval" / "val" / "report.md").is_file()


def test_eval_command_needs_something_to_evaluate(run, capsys):
    assert cli.main(["eval", str(run)]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
