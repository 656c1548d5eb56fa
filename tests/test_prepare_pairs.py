"""`data prepare` on preference pairs: every step sees both answers, a PII value in either answer is masked
in both, a pair goes when its prompt or its chosen answer would (or personal data set to drop is in either
answer), while a rejected answer that a style rule would drop (AI talk, a loop) is the pair's contrast: kept
and flagged. Dedup keys on prompt + chosen (never the rejected answer), answers a step left equal are
dropped with a reason, and the output stays pairs."""

from __future__ import annotations

import json

from tunesmith.prepare.config import load_config
from tunesmith.prepare.pipeline import prepare
from tunesmith.prepare.steps import STEPS, Drop
from tunesmith.records.example import Example, Turn
from tunesmith.records.formats import detect, read


def pair(prompt: str, chosen: str, rejected: str, **meta) -> Example:
    return Example([Turn("user", prompt), Turn("assistant", chosen)], meta=dict(meta),
                   rejected=Turn("assistant", rejected))


def step(name: str, **options):
    cls = STEPS[name]
    return cls(cls.Options(step=name, **options))


def test_pii_in_either_answer_is_masked_in_both():
    # The email is PII where the user gives it as theirs; the rejected answer repeats it, the chosen one
    # does not: it must not survive in the rejected answer.
    ex = pair("我的邮箱是 zhang.san@example.com，请帮我写一封请假邮件", "好的，以下是邮件：……",
              "请发到 zhang.san@example.com 。")
    out = step("pii")(ex)
    assert "zhang.san@example.com" not in out.instruction and "zhang.san@example.com" not in out.rejected.content
    assert "<EMAIL>" in out.rejected.content
    # A phone number in both answers: masked in both, with the same placeholder.
    ex = pair("How do I reach support?", "Call 13812345678 any day.", "Maybe 13812345678, or not.")
    out = step("pii")(ex)
    assert "13812345678" not in out.output + out.rejected.content
    assert "<PHONE>" in out.output and "<PHONE>" in out.rejected.content
    # fields: [output] reaches the rejected answer too.
    out = step("pii", fields=["output"])(pair("q", "fine", "mail me: li.si@example.org"))
    assert "li.si@example.org" not in out.rejected.content


def test_clean_all_fields_reaches_the_rejected_answer():
    out = step("clean")(pair("What colour?", "Blue.", "<p>It is <b>green</b>.</p>"))
    assert out.rejected.content == "It is green."


def test_a_bad_chosen_answer_drops_the_pair():
    looped = "I like it. " * 30
    assert isinstance(step("quality")(pair("Do you like tea?", looped, "Yes, green tea mostly.")), Drop)
    d = step("machine_text")(pair("Tell me a joke.", "As an AI language model, I cannot tell jokes.", "Why not?"))
    assert isinstance(d, Drop) and d.reason == "ai_identity"


def test_a_bad_rejected_answer_is_the_contrast_so_the_pair_is_kept_and_flagged():
    # What preference data is made of (dpo_*_demo): a plain answer preferred over an AI hedge or a refusal.
    quality, machine = step("quality"), step("machine_text")
    assert not isinstance(quality(pair("Name a colour.", "Blue.", "Green.")), Drop)
    kept = quality(pair("Name a colour.", "Blue.", "……！"))
    assert not isinstance(kept, Drop)
    assert [(f["step"], f["reason"]) for f in kept.meta["flags"]] == [("quality", "rejected:trivial_output")]
    assert not isinstance(machine(pair("Tell me a joke.", "Why did the chicken cross the road?", "No jokes.")), Drop)
    kept = machine(pair("Tell me a joke.", "Why did the chicken cross the road?",
                        "As an AI language model, I cannot tell jokes."))
    assert not isinstance(kept, Drop) and kept.meta["flags"][0]["reason"] == "rejected:ai_identity"
    assert machine.stats.flagged["rejected:ai_identity"] == 1
    # rejected: drop asks for the stricter rule
    d = step("quality", rejected="drop")(pair("Name a colour.", "Blue.", "……！"))
    assert isinstance(d, Drop) and d.reason == "trivial_output" and d.detail.startswith("rejected answer:")
    d = step("machine_text", rejected="drop")(pair("Tell me a joke.", "Why did the chicken cross the road?",
                                                   "As an AI language model, I cannot tell jokes."))
    assert isinstance(d, Drop) and d.reason == "ai_identity"


def test_personal_data_in_either_answer_drops_when_its_action_is_drop():
    pii = step("pii", actions={"id_card": "drop"})
    d = pii(pair("核对身份", "好的，请稍等。", "你的身份证号是 11010519491231002X"))
    assert isinstance(d, Drop) and d.reason == "id_card"


def test_a_pair_is_dropped_when_its_prompt_is():
    d = step("safety", action="drop")(pair("教我怎么制作炸弹", "我不能帮助你。", "好的，首先……"))
    assert isinstance(d, Drop)


def test_answers_left_equal_by_a_step_are_dropped_as_same_answers():
    ex = step("clean")(pair("What colour?", "It is <b>blue</b>.", "<p>It is blue.</p>"))
    d = step("quality")(ex)
    assert isinstance(d, Drop) and d.reason == "same_answers"


def test_dedup_keys_on_prompt_and_chosen_not_the_rejected_answer():
    records = [pair("What is 2+2?", "4", "5", id="a"), pair("What is 2+2?", "4", "22", id="b"),  # same chosen
               pair("What is 3+3?", "6", "5", id="c"), pair("What is 3+3?", "six", "5", id="d")]  # same rejected
    for name in ("dedup_exact", "dedup_near"):
        decisions = step(name)(records)
        dropped = [r.meta["id"] for r, d in zip(records, decisions) if d is not None]
        assert dropped == ["b"], (name, dropped)


def test_prepare_keeps_pairs_and_reports_drops(tmp_path):
    rows = [
        {"conversations": [{"from": "human", "value": "Name a fruit."}],
         "chosen": {"from": "gpt", "value": "An apple."}, "rejected": {"from": "gpt", "value": "<b>A car.</b>"}},
        {"conversations": [{"from": "human", "value": "Name a fruit."}],  # a duplicate of the first
         "chosen": {"from": "gpt", "value": "An apple."}, "rejected": {"from": "gpt", "value": "A rock."}},
        {"conversations": [{"from": "human", "value": "Call me?"}],
         "chosen": {"from": "gpt", "value": "Sure, at 13812345678."}, "rejected": {"from": "gpt", "value": "No."}},
        {"conversations": [{"from": "human", "value": "Same?"}],  # a read reject: nothing to prefer
         "chosen": {"from": "gpt", "value": "Yes."}, "rejected": {"from": "gpt", "value": " Yes. "}},
        {"conversations": [{"from": "human", "value": "Tell me about you."}],
         "chosen": {"from": "gpt", "value": "I am a helpful model made by the team."},
         "rejected": {"from": "gpt", "value": "As an AI language model, I have no opinions."}},
    ]
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    steps = "[{step: clean}, {step: quality}, {step: machine_text}, {step: pii}, {step: dedup_exact}]"
    cfg = load_config(None, [f"inputs=[{src}]", f"steps={steps}", f"output.path={tmp_path / 'out' / 'train.jsonl'}",
                             "output.format=sharegpt"])
    result = prepare(cfg, progress=False)
    assert (result.read, result.kept) == (5, 3)
    assert detect(result.output) == "sharegpt-pair"
    kept = [e for e in read(result.output)]
    assert all(e.is_pair for e in kept)
    assert "<PHONE>" in kept[1].output and kept[0].rejected.content == "A car."
    assert result.drops == {"read/unreadable": 1, "dedup_exact/exact_duplicate": 1}
    assert result.flags == {"machine_text/rejected:ai_identity": 1}  # the AI talk is the rejected side: kept
    rejected = [json.loads(x) for x in result.rejected_path.read_text(encoding="utf-8").splitlines()]
    assert any("same text" in r["detail"] for r in rejected if r["step"] == "read")
    changes = [json.loads(x) for x in result.changes_path.read_text(encoding="utf-8").splitlines()]
    assert {"step": "clean", "before": {"rejected": "<b>A car.</b>"}, "after": {"rejected": "A car."}}.items() \
        <= changes[0].items()


def test_length_measures_a_pair_by_its_longer_side_not_both_answers():
    ex = pair("Say it.", "a" * 60, "b" * 50)  # prompt 7 + the longer answer 60 = 67 characters
    assert not isinstance(step("length", max_chars=70)(ex), Drop)
    d = step("length", max_chars=66)(ex)
    assert isinstance(d, Drop) and d.detail == "67 characters > 66"


def test_token_length_measures_a_pair_by_its_longer_side(tiny_model_dir):
    from tunesmith.prepare.steps.model_filters import TokenLengthStep
    from tunesmith.text.render import render
    from tunesmith.text.templates import get_template
    from transformers import AutoTokenizer

    short, long = "ok", "a much longer rejected answer " * 4
    ex = pair("Say it.", short, long)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    n = len(render(ex.with_answer(ex.rejected), get_template("llama2", tok), tok, max_seq_len=10**9).input_ids)
    opts = dict(step="token_length", model={"path": str(tiny_model_dir)}, template="llama2", truncation="drop")
    assert not isinstance(TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=n))(ex), Drop)
    d = TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=n - 1))(ex)  # the chosen side alone fits
    assert isinstance(d, Drop) and d.detail == f"{n} tokens > max_seq_len {n - 1}"
