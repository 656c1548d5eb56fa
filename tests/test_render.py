"""Rendering properties for every template: labels are -100 exactly outside the assistant spans, the end
token is trained, pad is never a trained label, the inference prompt is a prefix of the training ids,
and truncation follows its policy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunesmith.records.example import Example, Turn
from tunesmith.errors import DataError
from tunesmith.text.render import TooLong, render, render_prompt, stop_token_ids
from tunesmith.text.sample import IGNORE_INDEX
from tunesmith.text.spm import ensure_faithful
from tunesmith.text.templates import add_chatml_tokens, get_template
from tests.test_templates import CHATML_JINJA, LLAMA2_CHAT_JINJA

TEMPLATES = ["alpaca", "llama2", "llama2-zh", "chatml", "auto-llama2", "auto-chatml"]


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dir, tmp_path_factory):
    """Tiny Llama tokenizers: plain (pad = unk, as the loader sets it), with ChatML tokens, with templates."""
    from transformers import AutoTokenizer

    def make(name, jinja=None, chatml=False):
        tok = AutoTokenizer.from_pretrained(tiny_model_dir)
        if chatml:
            add_chatml_tokens(tok)
        if jinja:
            tok.chat_template = jinja
        folder = tmp_path_factory.mktemp(name)
        tok.save_pretrained(folder)
        shutil.copy(Path(tiny_model_dir) / "tokenizer.model", folder / "tokenizer.model")
        tok = ensure_faithful(AutoTokenizer.from_pretrained(folder))
        tok.pad_token = tok.unk_token
        return tok

    plain, chatml = make("plain"), make("chatml", chatml=True)
    return {"alpaca": plain, "llama2": plain, "llama2-zh": plain, "chatml": chatml,
            "auto-llama2": make("auto-llama2", LLAMA2_CHAT_JINJA), "auto-chatml": make("auto-chatml", CHATML_JINJA, True)}


def _template(name, tokenizers, example=None):
    tok = tokenizers[name]
    return get_template(name.split("-")[0] if name.startswith("auto") else name, tok), tok


texts = st.lists(st.sampled_from(list("abcxyz 你好。!?\n") + [" the", "Human:", "</s>", "[INST]", "### Response:"]),
                 min_size=1, max_size=12).map("".join)
conversations = st.builds(
    lambda pairs, system, inp: Example(
        [t for u, a in pairs for t in (Turn("user", u, inp), Turn("assistant", a))], system),
    st.lists(st.tuples(texts, texts), min_size=1, max_size=3),
    st.one_of(st.none(), texts),
    st.one_of(st.none(), texts))

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("name", TEMPLATES)
@SETTINGS
@given(example=conversations)
def test_labels_are_exactly_the_assistant_spans(name, tokenizers, example):
    template, tok = _template(name, tokenizers, example)
    r = render(example, template, tok, max_seq_len=100_000)
    assert len(r.input_ids) == len(r.labels) and not r.truncated
    stops = set(stop_token_ids(template, tok))
    # Independent of the pieces: the span of assistant turn k is what render(turns[:k+1]) adds after
    # render_prompt(turns[:k]); everything else is prompt.
    expected = [IGNORE_INDEX] * len(r.input_ids)
    for k in range(1, len(example.turns), 2):
        start = len(render_prompt(Example(example.turns[:k], example.system), template, tok))
        full = render(Example(example.turns[:k + 1], example.system), template, tok, max_seq_len=100_000).input_ids
        assert r.input_ids[:len(full)] == full, "a conversation's start renders the same on its own"
        span = full[start:]
        end = max(i for i, t in enumerate(span) if t in stops)  # the end-of-turn token
        expected[start:start + end + 1] = span[:end + 1]
        trained = span[:end]
        want = example.turns[k].content
        # The trained tokens spell the answer (llama2 strips it, as Meta does).
        assert tok.decode(trained).strip() == (want.strip() if name.endswith("llama2") else want).strip()
    assert r.labels == expected
    assert tok.pad_token_id not in [x for x in r.labels if x != IGNORE_INDEX]
    assert r.labels[-1] in stops or r.labels[-1] == IGNORE_INDEX and name.startswith("auto")


@pytest.mark.parametrize("name", TEMPLATES)
@SETTINGS
@given(example=conversations)
def test_inference_prompt_is_a_prefix_of_the_training_ids(name, tokenizers, example):
    template, tok = _template(name, tokenizers, example)
    ids = render(example, template, tok, max_seq_len=100_000).input_ids
    prompt = render_prompt(example, template, tok)
    assert ids[:len(prompt)] == prompt and len(prompt) < len(ids)
    # The prompt of a record that ends with the user turn is the same.
    assert render_prompt(Example(example.turns[:-1], example.system), template, tok) == prompt


TWO_TURNS = Example([Turn("user", "first question"), Turn("assistant", "first answer"),
                     Turn("user", "second question"), Turn("assistant", "second answer")], system="sys")


@pytest.mark.parametrize("name", TEMPLATES)
def test_train_on_last_trains_only_the_last_answer(name, tokenizers):
    template, tok = _template(name, tokenizers)
    every = render(TWO_TURNS, template, tok, max_seq_len=4096)
    last = render(TWO_TURNS, template, tok, max_seq_len=4096, train_on="last")
    prompt = len(render_prompt(TWO_TURNS, template, tok))
    assert all(x == IGNORE_INDEX for x in last.labels[:prompt])
    assert last.labels[prompt:] == every.labels[prompt:]
    assert any(x != IGNORE_INDEX for x in every.labels[:prompt])


@pytest.mark.parametrize("name", ["llama2", "llama2-zh", "chatml"])
def test_truncation_cuts_oldest_turns_and_never_the_end_token(name, tokenizers):
    template, tok = _template(name, tokenizers)
    full = render(TWO_TURNS, template, tok, max_seq_len=4096)
    last_only = render(Example(TWO_TURNS.turns[2:], TWO_TURNS.system), template, tok, max_seq_len=4096)
    cut = render(TWO_TURNS, template, tok, max_seq_len=len(full.input_ids) - 1)
    assert cut.truncated and cut.turns_cut == 2
    assert cut.input_ids == last_only.input_ids and cut.labels[-1] in stop_token_ids(template, tok)
    with pytest.raises(TooLong, match="more than max_seq_len"):
        render(TWO_TURNS, template, tok, max_seq_len=len(full.input_ids) - 1, truncation="drop")
    with pytest.raises(TooLong, match="the last exchange alone"):
        render(TWO_TURNS, template, tok, max_seq_len=len(last_only.input_ids) - 1)
    assert render(TWO_TURNS, template, tok, max_seq_len=len(full.input_ids), truncation="drop") == full


def test_pad_equal_to_eos_cannot_hide_the_end_token(tokenizers):
    template, tok = _template("llama2", tokenizers)
    old = tok.pad_token
    tok.pad_token = tok.eos_token
    try:
        r = render(TWO_TURNS, template, tok, max_seq_len=4096)
    finally:
        tok.pad_token = old
    assert sum(1 for x in r.labels if x == tok.eos_token_id) == 2


def test_bad_conversations_are_refused_with_the_record_named(tokenizers):
    template, tok = _template("llama2", tokenizers)
    wrong = Example([Turn("assistant", "hi"), Turn("user", "x")], meta={"source": "d.jsonl", "line": 7})
    with pytest.raises(DataError, match="d.jsonl:7: turn 1 is 'assistant'"):
        render(wrong, template, tok, max_seq_len=100)
    with pytest.raises(DataError, match="nothing to train on"):
        render(Example([Turn("user", "q")]), template, tok, max_seq_len=100)
    with pytest.raises(DataError, match="empty conversation"):
        render_prompt(Example([]), template, tok)
    # A prompt-only record is fine for inference.
    assert render_prompt(Example([Turn("user", "q")]), template, tok)[0] == tok.bos_token_id
