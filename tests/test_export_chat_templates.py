"""The Jinja templates written into merged folders and GGUF files prompt exactly like render_prompt."""

import pytest

from tunesmith.records.example import Example, Turn
from tunesmith.export.chat_templates import BUILDERS, jinja_for
from tunesmith.text.render import render_prompt
from tunesmith.text.templates import add_chatml_tokens, get_template

CONVERSATIONS = [
    Example([Turn("user", "What is 2+2?")]),
    Example([Turn("user", "你好，介绍一下北京。")], system="你是一个助手。"),
    Example([Turn("user", "Hi"), Turn("assistant", "Hello! How can I help?"), Turn("user", "Tell a joke.")],
            system="Be brief."),
    Example([Turn("user", "  spaced  "), Turn("assistant", " answer "), Turn("user", "next")]),
]


def _load(folder):
    # tunesmith's loader: the SentencePiece-faithful tokenizer that training and inference use
    from tunesmith.config import ModelConfig
    from tunesmith.model.load import load_tokenizer

    return load_tokenizer(ModelConfig(path=str(folder)))


@pytest.fixture(scope="module")
def sp_tokenizer(tiny_model_dir):
    return _load(tiny_model_dir)


@pytest.fixture(scope="module")
def chatml_tokenizer(tiny_model_dir):
    tok = _load(tiny_model_dir)
    add_chatml_tokens(tok)
    return tok


def _messages(ex: Example) -> list[dict]:
    msgs = [{"role": "system", "content": ex.system}] if ex.system is not None else []
    return msgs + [{"role": t.role, "content": t.content} for t in ex.turns]


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("case", range(len(CONVERSATIONS)))
def test_jinja_prompt_ids_equal_render_prompt(name, case, sp_tokenizer, chatml_tokenizer):
    tok = chatml_tokenizer if name == "chatml" else sp_tokenizer
    ex = CONVERSATIONS[case]
    expected = render_prompt(ex, get_template(name, tok), tok)
    jinja = jinja_for(name, tok)
    text = tok.apply_chat_template(_messages(ex), chat_template=jinja, tokenize=False, add_generation_prompt=True)
    got = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(got) == tok.decode(expected)
    assert got == expected


def test_auto_keeps_the_tokenizers_own(tiny_tokenizer):
    assert jinja_for("auto", tiny_tokenizer) == tiny_tokenizer.chat_template
