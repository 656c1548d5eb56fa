"""Every record format and file type reads into Examples and writes back without loss; bad input is
reported with file:line and never dropped silently; `data convert` keeps the bad records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunesmith.cli import main
from tunesmith.records import formats
from tunesmith.records.example import Example, Turn
from tunesmith.records.formats import BadRecord, detect, read, write
from tunesmith.errors import DataError

DATA = Path(__file__).parent / "data" / "formats"

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=30)
# CSV, Parquet and JSON hold different shapes: keep the strategy to what every layout can carry.
meta = st.dictionaries(st.sampled_from(["score", "tag", "lang"]), st.text("abc", min_size=1, max_size=5), max_size=2)


def _examples(with_input: bool, markers_ok: bool):
    body = text if markers_ok else text.filter(lambda t: "<s>" not in t and "</s>" not in t)
    turn_input = st.one_of(st.none(), body.filter(bool)) if with_input else st.none()
    return st.builds(
        lambda pairs, system, m: Example([t for u, i, a in pairs for t in (Turn("user", u, i), Turn("assistant", a))],
                                         system, dict(m)),
        st.lists(st.tuples(body, st.none(), body), min_size=0, max_size=2).flatmap(
            lambda history: st.tuples(body, turn_input, body).map(lambda last: history + [last])),
        st.one_of(st.none(), body), meta)


def _same(a: Example, b: Example, *, merged_input: bool = False, empty_is_none: bool = False) -> bool:
    def norm(e: Example):
        turns = [(t.role, t.text if merged_input else t.content, None if merged_input else t.input) for t in e.turns]
        system = (e.system or None) if empty_is_none else e.system
        extras = {k: v for k, v in e.meta.items() if k not in ("source", "line", "id")}
        return turns, system, extras
    return norm(a) == norm(b)


CASES = [("alpaca", ".jsonl"), ("alpaca", ".json"), ("alpaca", ".parquet"), ("csv", ".csv"),
         ("sharegpt", ".jsonl"), ("sharegpt", ".json"), ("messages", ".jsonl"), ("parquet", ".parquet"),
         ("conversation", ".jsonl"), ("conversation", ".txt")]


@pytest.mark.parametrize("to,suffix", CASES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_format_round_trips(to, suffix, tmp_path, data):
    alpaca_like = to in ("alpaca", "csv")
    examples = data.draw(st.lists(_examples(with_input=alpaca_like, markers_ok=to != "conversation"), min_size=1,
                                  max_size=4))
    if suffix == ".txt":
        examples = [Example(e.turns, e.system) for e in examples]  # a .txt file holds the text only
    path = tmp_path / f"out{suffix}"
    assert write(examples, path, to=to) == len(examples)
    back = list(read(path))
    assert not [b for b in back if isinstance(b, BadRecord)], back
    assert len(back) == len(examples)
    for a, b in zip(examples, back):
        assert _same(a, b, merged_input=not alpaca_like, empty_is_none=suffix == ".csv"), (a, b)
        assert b.meta["source"] == str(path) and b.meta["id"]
    # Writing what was read gives the same file (ids and positions are not part of the record).
    again = tmp_path / f"again{suffix}"
    write(back, again, to=to)
    assert list(map(_key, read(again))) == list(map(_key, back))


def _key(e: Example):
    return [(t.role, t.content, t.input) for t in e.turns], e.system


def test_ids_lines_and_extra_fields(tmp_path):
    path = tmp_path / "mixed-ids.jsonl"
    path.write_text('{"instruction": "a", "output": "b", "id": 17, "source": "web", "upvotes": 3}\n\n'
                    '{"instruction": "c", "output": "d"}\n', encoding="utf-8")
    first, second = list(read(path))
    assert first.meta["id"] == "17" and first.meta["upvotes"] == 3 and first.meta["field:source"] == "web"
    assert first.meta["source"] == str(path) and first.meta["line"] == 1
    assert second.meta["id"] == "mixed-ids:3" and second.meta["line"] == 3
    out = tmp_path / "out.jsonl"
    write([first, second], out, to="alpaca")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[0]["id"] == 17 and rows[0]["source"] == "web" and rows[0]["upvotes"] == 3
    assert "id" not in rows[1] and "line" not in rows[1]


def test_bad_records_are_reported_with_file_line_and_reason():
    path = DATA / "bad.jsonl"
    items = list(read(path))
    bad = {b.line: b.reason for b in items if isinstance(b, BadRecord)}
    assert [e.meta["line"] for e in items if not isinstance(e, BadRecord)] == [1, 5]
    assert "invalid JSON" in bad[2]
    assert "missing 'output'" in bad[3]
    assert "not utf-8" in bad[4] and "GBK" in bad[4]
    with pytest.raises(DataError, match=r"bad.jsonl:2: invalid JSON"):
        list(read(path, strict=True))
    chats = {i.line if isinstance(i, BadRecord) else i.meta["line"]: i for i in read(DATA / "bad_messages.jsonl")}
    assert isinstance(chats[1], Example)
    assert "empty conversation" in chats[2].reason
    assert "turn 1 is 'assistant'" in chats[3].reason
    assert "last turn is not an assistant answer" in chats[4].reason
    assert "'content' is missing" in chats[5].reason
    # A file of prompts (for generation) may end with the user turn.
    prompts = [i for i in read(DATA / "bad_messages.jsonl", prompts=True) if not isinstance(i, BadRecord)]
    assert [p.meta["line"] for p in prompts] == [1, 4]


def test_a_whole_gbk_file_reads_with_its_encoding(tmp_path):
    path = tmp_path / "gbk.jsonl"
    path.write_bytes('{"instruction": "你好", "output": "世界"}\n'.encode("gbk"))
    assert isinstance(next(read(path, format="alpaca")), BadRecord)
    (example,) = read(path, format="alpaca", encoding="gb18030")
    assert example.turns[0].content == "你好"


def test_detection_names_the_file_line_and_fields(tmp_path):
    share = tmp_path / "share.json"
    # ShareGPT with extra instruction-like fields must not be taken for Alpaca (LLaMA-Factory #7577).
    share.write_text(json.dumps([{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
                                  "output": "x"}]), encoding="utf-8")
    assert detect(share) == "sharegpt"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"instruction": "q", "output": "a"}\n{"messages": [{"role": "user", "content": "q"}]}\n')
    with pytest.raises(DataError, match=r"mixes record formats: line 1 is alpaca .*line 2 is messages"):
        detect(mixed)
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(DataError, match=r"unknown.jsonl:1: no known record format in the fields \(question, answer\)"):
        detect(unknown)
    (example,) = read(unknown, columns={"instruction": "question", "output": "answer"})
    assert example.turns[1].content == "a"


def test_json_array_records_and_a_syntax_error_in_the_middle(tmp_path):
    path = tmp_path / "arr.json"
    path.write_text('[\n {"instruction": "a", "output": "b"},\n {"instruction": "c", "output": \n]\n')
    first, second = list(read(path))
    assert first.meta["line"] == 1 and isinstance(second, BadRecord) and second.line == 2
    assert "the rest of the array" in second.reason and '"c"' in second.raw


def test_csv_rows_spanning_lines_keep_their_line_numbers():
    items = list(read(DATA / "flagalpha.csv"))
    assert detect(DATA / "flagalpha.csv") == "conversation"
    assert [type(i).__name__ for i in items] == ["Example", "Example", "BadRecord"]
    assert [i.meta["line"] for i in items[:2]] == [2, 5]
    assert items[1].system == "你是助手。" and [t.content for t in items[1].turns] == ["你好", "你好！", "再见", "再见！"]
    assert items[2].line == 11 and "expected '<s>Human" in items[2].reason


def test_write_is_atomic_and_refuses_what_a_format_cannot_hold(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("old content\n")
    bad = Example.single("uses </s> inside", "x", id="r1")
    assert "turn markers" in formats.unwritable(bad, "conversation")
    with pytest.raises(DataError, match="r1: cannot write as conversation"):
        write([Example.single("fine", "ok"), bad], out, to="conversation")
    assert out.read_text() == "old content\n" and not list(tmp_path.glob(".out.txt.*"))
    with pytest.raises(DataError, match="--to parquet writes a .parquet file"):
        write([], tmp_path / "x.jsonl", to="parquet")


def test_cli_convert_stops_at_the_first_bad_record_then_skips_with_rejects(tmp_path, capsys):
    out = tmp_path / "good.jsonl"
    assert main(["data", "convert", str(DATA / "bad.jsonl"), str(out), "--to", "sharegpt"]) == 2
    assert "bad.jsonl:2: invalid JSON" in capsys.readouterr().err and not out.exists()
    assert main(["data", "convert", str(DATA / "bad.jsonl"), str(out), "--to", "sharegpt", "--skip-bad"]) == 0
    assert "2 records (alpaca -> sharegpt)" in capsys.readouterr().out
    assert [r["conversations"][0]["value"] for r in map(json.loads, out.read_text().splitlines())] == ["Hi", "两个"]
    rejects = [json.loads(x) for x in (tmp_path / "good.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4]
    assert all(r["reason"] and r["raw"] and r["source"].endswith("bad.jsonl") for r in rejects)


def test_cli_convert_to_every_file_type(tmp_path):
    src = DATA / "flagalpha.csv"
    for name in ("a.parquet", "a.txt", "a.json", "a.csv"):
        assert main(["data", "convert", str(src), str(tmp_path / name), "--skip-bad"]) == 0
        got = [e for e in read(tmp_path / name) if not isinstance(e, BadRecord)]
        assert [len(e.turns) for e in got] == [2, 4], name
        assert got[1].system == "你是助手。"


# Hostile values: one record never stops a read; it is rejected with its line, the rest is read.

LONE = ['{"instruction": "cut emoji \\ud83d", "output": "a"}',        # a high surrogate alone
        '{"instruction": "q", "output": "low \\udc80 alone"}',          # a low one alone
        '{"instruction": "q", "output": "a", "\\ud800tag": 1}']        # in a field name
PAIR = '{"instruction": "smile", "output": "\\ud83d\\ude00"}'           # a pair is one character: kept


def _hostile_file(tmp_path, suffix: str, lines: list[str]) -> Path:
    path = tmp_path / f"in{suffix}"
    path.write_text("\n".join(lines) + "\n" if suffix == ".jsonl" else "[\n" + ",\n".join(lines) + "\n]\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_lone_surrogate_is_rejected_with_its_line_and_a_pair_is_kept(tmp_path, suffix):
    path = _hostile_file(tmp_path, suffix, [PAIR, *LONE, '{"instruction": "last", "output": "b"}'])
    items = list(read(path))
    assert [type(i).__name__ for i in items] == ["Example", "BadRecord", "BadRecord", "BadRecord", "Example"]
    assert items[0].turns[1].content == "\U0001F600" and items[4].meta["line"] == 5
    assert [b.line for b in items[1:4]] == [2, 3, 4]
    assert "lone surrogate \\ud83d in field 'instruction'" in items[1].reason
    assert "lone surrogate \\udc80 in field 'output'" in items[2].reason
    assert "lone surrogate \\ud800" in items[3].reason
    # The reject itself can be written as UTF-8 (its raw text holds the escape, not the surrogate).
    json.dumps(items[3].to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_lone_surrogate_in_a_csv_json_cell_is_rejected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('instruction,output,history\nq,a,"[[""hi \\ud83d"", ""yo""]]"\n'
                    'q,"a \\ud83d as text",[]\n', encoding="utf-8")
    bad, kept = list(read(path))
    assert isinstance(bad, BadRecord) and bad.line == 2 and "lone surrogate" in bad.reason
    assert kept.turns[-1].content == "a \\ud83d as text"  # a backslash and letters: plain text, kept


DEEP = '{"instruction": "deep", "output": "a", "extra": ' + "[" * 1500 + "]" * 1500 + "}"


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_value_nested_too_deep_is_rejected_and_reading_goes_on(tmp_path, suffix):
    nested = lambda n: '{"instruction": "n%d", "output": "a", "extra": ' % n + "[" * n + "]" * n + "}"  # noqa: E731
    path = _hostile_file(tmp_path, suffix, [DEEP, nested(500), nested(100), '{"instruction": "q", "output": "b"}'])
    items = list(read(path))
    assert [type(i).__name__ for i in items] == ["BadRecord", "BadRecord", "Example", "Example"]
    assert [b.line for b in items[:2]] == [1, 2]
    assert "nested too deep to read" in items[0].reason
    # 500 levels parse, but could break a later json.dumps or a pickle to a worker: rejected at a fixed depth.
    assert "nested deeper than 200 levels in field 'extra[0]" in items[1].reason
    assert items[2].meta["extra"] and items[3].meta["line"] == 4
    assert detect(path) == "alpaca"


def test_a_too_deep_csv_json_cell_is_rejected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("instruction,output,history\nq,a," + "[" * 1500 + "]" * 1500 + "\nq,b,\n", encoding="utf-8")
    bad, kept = list(read(path))
    assert isinstance(bad, BadRecord) and bad.line == 2 and "nested too deep" in bad.reason
    assert kept.turns[-1].content == "b"


def test_json_array_errors_name_the_file_line_after_many_records(tmp_path):
    path = tmp_path / "arr.json"
    good = '  {\n    "instruction": "q",\n    "output": "a"\n  }'  # four lines a record
    deep = '  {"instruction": "a ] and a \\" in a string [", "extra": ' + "[" * 1200 + "]" * 1200 + "}"
    path.write_text("[\n" + ",\n".join([good] * 50 + [deep, good, '  {"instruction": "x" "output"}']) + "\n]\n",
                    encoding="utf-8")
    items = list(read(path))
    assert [i.meta["line"] for i in items[:50]] == list(range(1, 51))  # a record's line is its index
    deep, after, broken = items[50:]
    assert deep.line == 51 and "record 51, line 202" in deep.reason  # 1 + 50 * 4 lines before it
    assert after.meta["line"] == 52
    assert broken.line == 53 and "invalid JSON at line 207" in broken.reason and "line 207)" in broken.reason


LONE_TEXT = "cut \ud83d emoji"


@pytest.mark.parametrize("to,suffix", [("alpaca", ".jsonl"), ("alpaca", ".json"), ("csv", ".csv"),
                                       ("parquet", ".parquet"), ("conversation", ".txt")])
def test_every_writer_escapes_what_utf8_cannot_hold(tmp_path, to, suffix):
    out = tmp_path / f"out{suffix}"
    assert write([Example.single(LONE_TEXT, "answer"), Example.single("fine", "ok")], out, to=to) == 2
    text = out.read_bytes()
    if suffix != ".parquet":
        text.decode("utf-8")  # strict: valid UTF-8
        assert b"\\ud83d" in text
    first = next(read(out, format=to if to != "parquet" else "auto"))
    if suffix in (".jsonl", ".json"):
        # In JSON the escape is the JSON escape of the same character: the text reads back as it was
        # (and the reader then rejects it, as it rejects every lone surrogate).
        assert isinstance(first, BadRecord) and "lone surrogate \\ud83d" in first.reason
    else:
        assert first.turns[0].content == "cut \\ud83d emoji"
