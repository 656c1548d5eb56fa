"""`token_length` counts what training renders: the batched count equals len(render(...).input_ids)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunesmith.data.example import Example, Turn
from tunesmith.data.steps import Drop
from tunesmith.data.steps.model_filters import TokenLengthStep
from tunesmith.data.steps.token_count import rendered_lengths
from tunesmith.errors import ConfigError
from tunesmith.text.render import render
from tests.test_render import TEMPLATES, _template, tokenizers  # noqa: F401 (tokenizers: a fixture)
from tests.test_templates import LLAMA2_CHAT_JINJA


@pytest.fixture(scope="module")
def bound(tokenizers):
    """name -> (template, tokenizer) for every built-in template and two chat templates (auto)."""
    return {name: _template(name, tokenizers) for name in TEMPLATES}


texts = st.lists(st.sampled_from(list("abcxyz 你好。!?\n") + [" the", "Human:", "</s>", "[INST]", " lead", "  "]),
                 min_size=0, max_size=12).map("".join)
conversations = st.builds(
    lambda pairs, system, inp: Example([t for u, a in pairs for t in (Turn("user", u, inp), Turn("assistant", a))],
                                       system),
    st.lists(st.tuples(texts, texts), min_size=1, max_size=3), st.one_of(st.none(), texts),
    st.one_of(st.none(), texts))


@pytest.mark.parametrize("name", ["alpaca", "llama2", "llama2-zh", "chatml", "auto-llama2", "auto-chatml"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(conversations, min_size=1, max_size=6))
def test_batched_count_equals_render(bound, name, batch):
    template, tok = bound[name]
    want = [len(render(e, template, tok, max_seq_len=10**9, truncation="drop").input_ids) for e in batch]
    assert rendered_lengths(batch, template, tok) == want


def test_the_step_keeps_exactly_max_seq_len_and_drops_one_more(tiny_model_dir, bound):
    template, tok = bound["llama2"]
    record = Example([Turn("user", "hello world " * 5), Turn("assistant", "你好 " * 7), Turn("user", "again"),
                      Turn("assistant", "ok")], system="Be brief.")
    n = len(render(record, template, tok, max_seq_len=10**9).input_ids)
    opts = dict(step="token_length", model={"path": str(tiny_model_dir)}, template="llama2")
    fits = TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=n))
    assert fits(record) is record
    tight = TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=n - 1))
    out = tight.apply_batch([Example.single("a", "b"), record])
    assert not isinstance(out[0], Drop)
    assert out[1].reason == "too_many_tokens" and out[1].detail == f"{n} tokens > max_seq_len {n - 1}"
    floor = TokenLengthStep(TokenLengthStep.Options(**opts, min_tokens=n + 1))
    assert floor(record).reason == "too_few_tokens"


def test_auto_needs_a_chat_template_and_options_are_checked(tiny_model_dir, tmp_path):
    from tunesmith.data.pipeline_config import step_options
    from tunesmith.testing import tiny_llama

    with pytest.raises(ConfigError, match="no chat template") as e:
        TokenLengthStep(TokenLengthStep.Options(step="token_length", model={"path": str(tiny_model_dir)}))
    assert "--template alpaca" in e.value.hint
    chat = tiny_llama(tmp_path / "chat", chat_template=LLAMA2_CHAT_JINJA)
    step = TokenLengthStep(TokenLengthStep.Options(step="token_length", model={"path": str(chat)}, max_seq_len=10))
    assert step.template.name == "auto" and step(Example.single("hi " * 20, "ok")).reason == "too_many_tokens"
    with pytest.raises(ConfigError, match="unknown template 'llama3'"):
        step_options({"step": "token_length", "template": "llama3"})
    with pytest.raises(ConfigError, match="whole rendered record"):
        step_options({"step": "token_length", "fields": ["output"]})
