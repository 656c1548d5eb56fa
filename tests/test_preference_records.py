"""Preference records: every pair layout reads into one Example (chosen last, `rejected` beside it), is
detected by `read(format="auto")`, writes back losslessly in every file type, and a bad pair is a
file:line reject with a reason a person can act on."""

from __future__ import annotations

import json

import pytest

from tunesmith.cli import main
from tunesmith.errors import DataError
from tunesmith.records import formats
from tunesmith.records.example import Example, Turn
from tunesmith.records.formats import BadRecord, detect, read, write

SYSTEM = "You are terse."
# One record per layout, each the same pair: a two-exchange prompt with a system prompt where the layout
# can hold one, and a `score` extra field that must survive.
RECORDS = {
    "sharegpt-pair": {"conversations": [{"from": "system", "value": SYSTEM}, {"from": "human", "value": "Hi"},
                                        {"from": "gpt", "value": "Hello."}, {"from": "human", "value": "2+2?"}],
                      "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}, "score": 3},
    "messages-pair": {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"},
                                   {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"}],
                      "chosen": {"role": "assistant", "content": "4"},
                      "rejected": {"role": "assistant", "content": "5"}, "score": 3},
    "alpaca-pair": {"instruction": "2+2?", "input": "", "chosen": "4", "rejected": "5", "system": SYSTEM,
                    "history": [["Hi", "Hello."]], "score": 3},
    "trl-chat": {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"},
                            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"}],
                 "chosen": [{"role": "assistant", "content": "4"}],
                 "rejected": [{"role": "assistant", "content": "5"}], "score": 3},
    "trl-implicit": {"chosen": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"},
                                {"role": "assistant", "content": "4"}],
                     "rejected": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"},
                                  {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "2+2?"},
                                  {"role": "assistant", "content": "5"}], "score": 3},
}
PAIR = Example([Turn("user", "Hi"), Turn("assistant", "Hello."), Turn("user", "2+2?"), Turn("assistant", "4")],
               SYSTEM, rejected=Turn("assistant", "5"))


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _pair(e: Example):
    return e.system, [(t.role, t.content, t.input) for t in e.turns], (e.rejected.role, e.rejected.content)


@pytest.mark.parametrize("layout", sorted(RECORDS))
def test_each_layout_is_detected_and_reads_as_the_same_pair(layout, tmp_path):
    path = _write_jsonl(tmp_path / "pairs.jsonl", [RECORDS[layout]])
    assert detect(path) == layout
    [example] = read(path)
    assert not isinstance(example, BadRecord), example.reason
    assert example.is_pair and _pair(example) == _pair(PAIR)
    assert example.meta["score"] == 3


def test_trl_text_form_reads_a_string_prompt_as_one_user_turn(tmp_path):
    path = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "2+2?", "chosen": "4", "rejected": "5"}])
    assert detect(path) == "trl"
    [example] = read(path)
    assert [(t.role, t.content) for t in example.turns] == [("user", "2+2?"), ("assistant", "4")]
    assert example.rejected.content == "5"


@pytest.mark.parametrize("layout", sorted(RECORDS) + ["trl"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".csv"])
def test_write_then_read_is_lossless_in_every_file_type(layout, suffix, tmp_path):
    example = PAIR.copy() if layout != "trl" else Example([Turn("user", "2+2?"), Turn("assistant", "4")],
                                                          rejected=Turn("assistant", "5"))
    example.meta = {"score": 3, "id": "q1"}
    out = tmp_path / f"out{suffix}"
    assert write([example], out, to=layout) == 1
    assert detect(out) == layout
    [back] = read(out)
    assert not isinstance(back, BadRecord), back.reason
    assert _pair(back) == _pair(example) and back.meta["id"] == "q1"
    assert str(back.meta["score"]) == "3"  # a CSV cell is text


@pytest.mark.parametrize("layout", sorted(RECORDS))
def test_a_record_written_back_in_its_own_layout_is_the_same_record(layout, tmp_path):
    """Record-level round trip: the one shape change is a system turn leading `conversations`, which comes
    back as the `system` field (as the sharegpt format writes it; LLaMA-Factory reads both the same)."""
    src = _write_jsonl(tmp_path / "in.jsonl", [RECORDS[layout]])
    out = tmp_path / "out.jsonl"
    write([e for e in read(src)], out, to=layout)
    row = json.loads(out.read_text(encoding="utf-8"))
    want = dict(RECORDS[layout])
    if layout == "sharegpt-pair":
        want["conversations"] = want["conversations"][1:]
        want["system"] = SYSTEM
    assert row == want


def test_a_pair_written_as_a_single_answer_format_keeps_its_rejected_answer(tmp_path):
    for to, layout in (("alpaca", "alpaca-pair"), ("sharegpt", "sharegpt-pair"), ("messages", "messages-pair")):
        out = tmp_path / f"{to}.jsonl"
        write([PAIR.copy()], out, to=to)
        assert detect(out) == layout
        [back] = read(out)
        assert _pair(back) == _pair(PAIR)
    assert "pair format" in formats.unwritable(PAIR, "conversation")
    sft = Example.single("2+2?", "4")
    assert "not a preference pair" in formats.unwritable(sft, "trl")
    assert "trl-chat" in formats.unwritable(PAIR, "trl")  # a system prompt and history need the chat form


BAD = [
    ({"conversations": [{"from": "human", "value": "q"}], "rejected": {"from": "gpt", "value": "b"}},
     "missing 'chosen'"),
    ({"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "  "},
      "rejected": {"from": "gpt", "value": "b"}}, "'chosen' is empty"),
    ({"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "a"},
      "rejected": {"from": "human", "value": "b"}}, "'rejected' is a 'human' turn, not an answer"),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "x"}],
      "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"}},
     "ends with an assistant turn"),
    ({"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "same  answer"},
      "rejected": {"from": "gpt", "value": "same answer\n"}}, "same text"),
]


def test_bad_pairs_are_rejected_with_file_line_and_reason(tmp_path):
    good = RECORDS["sharegpt-pair"]
    path = _write_jsonl(tmp_path / "mixed.jsonl", [good] + [row for row, _ in BAD])
    items = list(read(path))
    assert not isinstance(items[0], BadRecord)
    for item, (_, why) in zip(items[1:], BAD):
        assert isinstance(item, BadRecord) and item.line == items.index(item) + 1
        assert why in item.reason, item.reason
    with pytest.raises(DataError, match=r"mixed.jsonl:2: missing 'chosen'"):
        list(read(path, strict=True))


def test_trl_bad_shapes(tmp_path):
    rows = [{"chosen": "4", "rejected": "5"},  # implicit prompt needs conversations
            {"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
             "rejected": "c"},
            {"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
             "rejected": [{"role": "user", "content": "other q"}, {"role": "assistant", "content": "b"}]}]
    path = _write_jsonl(tmp_path / "trl.jsonl", rows)
    reasons = [item.reason for item in read(path, format="trl-implicit")]
    assert "add the prompt as 'prompt'" in reasons[0]
    assert "looks like trl" in reasons[1]
    assert "differ before their last message" in reasons[2]
    second = list(read(path, format="trl"))[1]
    assert "holds 2 messages: a pair's answer is one assistant message" in second.reason


def test_data_convert_cli_writes_pairs_and_defaults_to_the_input_layout(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "lf.jsonl", [RECORDS["sharegpt-pair"]])
    assert main(["data", "convert", str(src), str(tmp_path / "trl.jsonl"), "--to", "trl-chat"]) == 0
    assert detect(tmp_path / "trl.jsonl") == "trl-chat"
    assert main(["data", "convert", str(tmp_path / "trl.jsonl"), str(tmp_path / "back.json")]) == 0
    assert detect(tmp_path / "back.json") == "trl-chat"
    assert main(["data", "convert", str(src), str(tmp_path / "p.parquet")]) == 0  # parquet: messages-pair
    assert detect(tmp_path / "p.parquet") == "messages-pair"
    [back] = read(tmp_path / "p.parquet")
    assert _pair(back) == _pair(PAIR)
    capsys.readouterr()
    assert main(["data", "convert", str(src), str(tmp_path / "c.jsonl"), "--to", "conversation"]) != 0
    assert "lf.jsonl:1: cannot be written as conversation: a preference pair" in capsys.readouterr().err
    assert not (tmp_path / "c.jsonl").exists()


def test_real_llamafactory_demo_files_read_without_rejects():
    from pathlib import Path

    for name in ("dpo_en_demo.json", "dpo_zh_demo.json"):
        path = Path("/work/shared/realdata") / name
        if not path.is_file():
            pytest.skip("real data not present")
        items = list(read(path))
        assert detect(path) == "sharegpt-pair"
        assert len(items) == 300 and not [i for i in items if isinstance(i, BadRecord)]
        assert all(i.is_pair and i.turns[-1].role == "assistant" for i in items)


def test_sft_training_data_from_pairs_uses_the_chosen_answers_and_says_so(tmp_path, tiny_tokenizer, caplog):
    from tunesmith.runs.config import RunConfig
    from tunesmith.train.data import build

    path = _write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": f"Say {w}.", "chosen": f"{w}!", "rejected": "No."}
                                                  for w in ("one", "two", "three")])
    cfg = RunConfig.model_validate({"data": {"train": [str(path)], "val_split": 0},
                                    "template": {"name": "llama2-zh", "max_seq_len": 64}})
    with caplog.at_level("WARNING"):
        data = build(cfg, tiny_tokenizer)
    assert len(data.train) == 3 and "3 records are preference pairs" in caplog.text
    said = tiny_tokenizer.decode([i for i, y in zip(data.train[0].input_ids, data.train[0].labels) if y != -100])
    assert "No." not in said and "!" in said
