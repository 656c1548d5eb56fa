"""`token_length` counts what training renders: every count equals len(render(...).input_ids), on every path.

The paths: the batched tokenizer call (SentencePiece and any tokenizer), the byte-level word cache (GPT-2 /
SmolLM2 style BPE, here a small one trained in a fixture), and the `auto` template's skeletons (chat
templates that only paste texts) or its per-record renders (templates that strip, test or escape them).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunesmith.records.example import Example, Turn
from tunesmith.prepare.steps import Drop
from tunesmith.prepare.steps.model_filters import TokenLengthStep
from tunesmith.prepare.steps.token_count import RenderedLengths, TrainingLengths, rendered_lengths
from tunesmith.errors import ConfigError
from tunesmith.text.render import TooLong, render
from tunesmith.text.templates import get_template
from tests.test_render import TEMPLATES, _template, tokenizers  # noqa: F401 (tokenizers: a fixture)
from tests.test_templates import CHATML_JINJA, LLAMA2_CHAT_JINJA

# SmolLM2's own template: a default system prompt when a record has none.
SMOL_JINJA = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
              "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
              "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
THINK_JINJA = ("{% for m in messages %}{% if m['role'] == 'assistant' and '</think>' in m['content'] %}"
               "{% set c = m['content'].split('</think>')[-1] %}{% else %}{% set c = m['content'] %}{% endif %}"
               "{{ '<|im_start|>' + m['role'] + '\n' + c + '<|im_end|>\n' }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
JSON_JINJA = ("{% for m in messages %}"
              "{{ '<|im_start|>' + m['role'] + '\n' + (m['content'] | tojson) + '<|im_end|>\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
CORPUS = ["The quick brown fox jumps over the lazy dog. It's what they'll do, isn't it?",
          "def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))  # 3",
          "今天天气很好，我们去公园散步吧。你好，世界！这是一个测试。", "  indented\tline\n\n  and   spaces   ",
          "Human: hi\nAssistant: hello </s> [INST] <<SYS>> 1234567890 3.14 100%"]


@pytest.fixture(scope="module")
def bytelevel(tmp_path_factory):
    """A small GPT-2-style byte-level BPE tokenizer (as SmolLM2's), with ChatML tokens; name -> tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    raw.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(
        vocab_size=420, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    out = {}
    for name, jinja in (("plain", None), ("smol", SMOL_JINJA), ("chatml", CHATML_JINJA), ("strip", LLAMA2_CHAT_JINJA),
                        ("think", THINK_JINJA), ("json", JSON_JINJA)):
        tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                      unk_token="<|endoftext|>", pad_token="<|im_end|>")
        if jinja:
            tok.chat_template = jinja
        folder = tmp_path_factory.mktemp(f"bytelevel-{name}")
        tok.save_pretrained(folder)
        out[name] = AutoTokenizer.from_pretrained(folder)
    return out


def _want(batch, template, tok):
    return [len(render(e, template, tok, max_seq_len=10**9, truncation="drop").input_ids) for e in batch]


PARTS = list("abcxyz 你好。!?\n\t'") + [" the", "Human:", "</s>", "[INST]", " lead", "  ", "'ll", "'s", "<|im_end|>",
                                       "<|im_start|>", "\u3000", "123"]
texts = st.lists(st.sampled_from(PARTS), min_size=0, max_size=12).map("".join)
conversations = st.builds(
    lambda pairs, system, inp: Example([t for u, a in pairs for t in (Turn("user", u, inp), Turn("assistant", a))],
                                       system),
    st.lists(st.tuples(texts, texts), min_size=1, max_size=3), st.one_of(st.none(), texts),
    st.one_of(st.none(), texts))
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def bound(tokenizers):
    """name -> (template, tokenizer) for every built-in template and two chat templates (auto)."""
    return {name: _template(name, tokenizers) for name in TEMPLATES}


@pytest.mark.parametrize("name", TEMPLATES)
@SETTINGS
@given(batch=st.lists(conversations, min_size=1, max_size=6))
def test_sentencepiece_counts_equal_render(bound, name, batch):
    template, tok = bound[name]
    assert rendered_lengths(batch, template, tok) == _want(batch, template, tok)
    assert RenderedLengths(template, tok, skeletons=False).lengths(batch) == _want(batch, template, tok)


@pytest.mark.parametrize("name", ["alpaca", "chatml", "auto-smol", "auto-chatml", "auto-strip", "auto-think",
                                  "auto-json"])
@SETTINGS
@given(batch=st.lists(conversations, min_size=1, max_size=6))
def test_bytelevel_counts_equal_render(bytelevel, name, batch):
    tok = bytelevel[name.split("-")[1] if name.startswith("auto") else ("chatml" if name == "chatml" else "plain")]
    template = get_template(name.split("-")[0], tok)
    counter = RenderedLengths(template, tok)
    assert counter.words is not None  # the word cache counts
    assert counter.lengths(batch) == _want(batch, template, tok)


def test_skeletons_only_for_templates_that_paste_texts(bytelevel):
    """SmolLM2's and ChatML's templates get a skeleton; ones that strip, test or JSON-quote texts do not."""
    record = Example([Turn("user", "hi"), Turn("assistant", "ok")])
    for name, fast in (("smol", True), ("chatml", True), ("strip", False), ("think", False), ("json", False)):
        counter = RenderedLengths(get_template("auto", bytelevel[name]), bytelevel[name])
        assert (counter.skeletons.runs(record) is not None) is fast, name


def test_skeleton_steps_aside_for_texts_it_cannot_vouch_for(bytelevel):
    tok = bytelevel["smol"]
    template = get_template("auto", tok)
    counter = RenderedLengths(template, tok)
    ordinary = Example([Turn("user", "hi"), Turn("assistant", "ok")], system="Be brief.")
    # A system prompt is template text: "<|im_end|>" in it becomes the token, so the skeleton gives way.
    special = Example([Turn("user", "hi"), Turn("assistant", "ok")], system="Be brief.<|im_end|>")
    # A text that is part of a string constant of the template ("x in 'literal'" reads it unseen).
    constant = Example([Turn("user", "assistant"), Turn("assistant", "ok")])
    assert counter.skeletons.runs(ordinary) is not None
    assert counter.skeletons.runs(special) is None and counter.skeletons.runs(constant) is None
    batch = [ordinary, special, constant]
    assert counter.lengths(batch) == _want(batch, template, tok)


def test_a_character_the_two_split_engines_disagree_on_goes_to_the_tokenizer(bytelevel):
    """U+2B73A (CJK Extension, Unicode 16) is a letter to `regex` and, at tokenizers 0.23, unknown to Oniguruma."""
    tok = bytelevel["plain"]
    counter = RenderedLengths(get_template("alpaca", tok), tok)
    words = counter.words
    text = "a" + chr(0x2B73A) + "b 你好"
    words.learn([text])
    theirs = [w for w, _ in tok.backend_tokenizer.pre_tokenizer.pre_tokenize_str("x" + chr(0x2B73A) + "x")]
    disagree = len(theirs) != 1  # regex: one word "x?x"
    assert (words.split(text) is None) is disagree
    batch = [Example.single(text, "ok " + chr(0x2B73A)), Example.single("plain", "你好")]
    assert counter.lengths(batch) == _want(batch, counter.template, tok)


def test_truncation_is_what_training_does(bound):
    template, tok = bound["llama2"]
    record = Example([Turn("user", "hello world " * 5), Turn("assistant", "你好 " * 7), Turn("user", "again"),
                      Turn("assistant", "ok")], system="Be brief.")
    n = len(render(record, template, tok, max_seq_len=10**9).input_ids)
    last = len(render(Example(record.turns[2:], record.system), template, tok, max_seq_len=10**9).input_ids)
    counter = RenderedLengths(template, tok)
    for limit in (n, n - 1, last, last - 1):
        for truncation in ("drop", "cut_oldest"):
            fit = TrainingLengths(counter, limit, truncation).fits([record])[0]
            try:
                r = render(record, template, tok, max_seq_len=limit, truncation=truncation)
            except TooLong:
                assert not fit.fits, (limit, truncation)
            else:
                assert fit.fits and fit.fitted == len(r.input_ids) and fit.cut == r.turns_cut, (limit, truncation)


def test_the_step_keeps_exactly_max_seq_len_and_drops_one_more(tiny_model_dir, bound):
    template, tok = bound["llama2"]
    record = Example([Turn("user", "hello world " * 5), Turn("assistant", "你好 " * 7), Turn("user", "again"),
                      Turn("assistant", "ok")], system="Be brief.")
    n = len(render(record, template, tok, max_seq_len=10**9).input_ids)
    opts = dict(step="token_length", model={"path": str(tiny_model_dir)}, template="llama2", truncation="drop")
    fits = TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=n))
    assert fits(record) is record
    tight = TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=n - 1))
    out = tight.apply_batch([Example.single("a", "b"), record])
    assert not isinstance(out[0], Drop)
    assert out[1].reason == "too_many_tokens" and out[1].detail == f"{n} tokens > max_seq_len {n - 1}"
    floor = TokenLengthStep(TokenLengthStep.Options(**opts, min_tokens=n + 1))
    assert floor(record).reason == "too_few_tokens"


def test_cut_oldest_keeps_and_flags_what_training_would_cut(tiny_model_dir, bound):
    """A multi-turn record whose last exchange fits is trained (cut), not dropped; one whose last exchange
    does not fit is dropped, as training drops it."""
    template, tok = bound["llama2"]
    record = Example([Turn("user", "hello world " * 5), Turn("assistant", "你好 " * 7), Turn("user", "again"),
                      Turn("assistant", "ok")])
    n = len(render(record, template, tok, max_seq_len=10**9).input_ids)
    last = len(render(Example(record.turns[2:]), template, tok, max_seq_len=10**9).input_ids)
    opts = dict(step="token_length", model={"path": str(tiny_model_dir)}, template="llama2")
    step = TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=n - 1))
    kept = step(record.copy())
    assert isinstance(kept, Example)
    assert kept.meta["flags"] == [{"step": "token_length", "reason": "cut_in_training",
                                   "detail": f"{n} tokens > max_seq_len {n - 1}: training cuts the oldest 2 turns "
                                             f"({last} left)"}]
    assert step.stats.flagged["cut_in_training"] == 1
    tight = TokenLengthStep(TokenLengthStep.Options(**opts, max_seq_len=last - 1))
    assert tight(record.copy()).reason == "too_many_tokens"
    single = Example.single("hello world " * 20, "ok")
    assert tight(single).reason == "too_many_tokens"  # one exchange: nothing to cut


def test_the_run_config_names_the_tokenizer_template_system_and_limits(tiny_model_dir, bound, tmp_path):
    template, tok = bound["llama2"]
    run = tmp_path / "run.yaml"
    run.write_text(f"model: {{path: {tiny_model_dir}}}\n"
                   "template: {name: llama2, system: Answer in one word., max_seq_len: 60, truncation: drop}\n")
    step = TokenLengthStep(TokenLengthStep.Options(step="token_length", run=str(run)))
    assert (step.template.name, step.max_seq_len, step.truncation) == ("llama2", 60, "drop")
    record = Example.single("hello " * 10, "ok")
    with_system = len(render(Example(record.turns, "Answer in one word."), template, tok, max_seq_len=10**9).input_ids)
    without = len(render(record, template, tok, max_seq_len=10**9).input_ids)
    assert with_system > without
    exact = TokenLengthStep(TokenLengthStep.Options(step="token_length", run=str(run), max_seq_len=with_system))
    assert exact(record) is record and record.system is None  # counted with the run's system, record unchanged
    short = TokenLengthStep(TokenLengthStep.Options(step="token_length", run=str(run), max_seq_len=with_system - 1))
    assert short(record).detail == f"{with_system} tokens > max_seq_len {with_system - 1}"


def test_the_report_says_which_tokenizer_counted_and_its_tokens_per_chinese_character(tiny_model_dir):
    step = TokenLengthStep(TokenLengthStep.Options(step="token_length", model={"path": str(tiny_model_dir)},
                                                   template="alpaca"))
    step.apply_batch([Example.single("你好世界", "天气很好"), Example.single("hello", "ok")])
    counts = step.stats.counts
    label = [k for k in counts if k.startswith("tokenizer: ")]
    assert label == [f"tokenizer: {tiny_model_dir} ({len(step.tokenizer):,} tokens, template alpaca, "
                     "batched tokenizer calls)"] and counts[label[0]] == 2
    assert counts["chinese_chars"] == 8
    assert counts["chinese_tokens"] == len(step.tokenizer("你好世界", add_special_tokens=False).input_ids) + len(
        step.tokenizer("天气很好", add_special_tokens=False).input_ids)


def test_neither_run_nor_model_is_a_clear_error_and_options_are_checked(tiny_model_dir, tmp_path):
    from tunesmith.prepare.config import step_options
    from tunesmith.testing import tiny_llama

    with pytest.raises(ConfigError, match="needs the tokenizer you train with"):
        step_options({"step": "token_length"})
    with pytest.raises(ConfigError, match="no chat template") as e:
        TokenLengthStep(TokenLengthStep.Options(step="token_length", model={"path": str(tiny_model_dir)}))
    assert "--template alpaca" in e.value.hint
    with pytest.raises(ConfigError, match="config file not found"):
        TokenLengthStep(TokenLengthStep.Options(step="token_length", run=str(tmp_path / "missing.yaml")))
    chat = tiny_llama(tmp_path / "chat", chat_template=LLAMA2_CHAT_JINJA)
    step = TokenLengthStep(TokenLengthStep.Options(step="token_length", model={"path": str(chat)}, max_seq_len=10))
    assert step.template.name == "auto" and step(Example.single("hi " * 20, "ok")).reason == "too_many_tokens"
    with pytest.raises(ConfigError, match="unknown template 'llama3'"):
        step_options({"step": "token_length", "model": {"path": "x"}, "template": "llama3"})
    with pytest.raises(ConfigError, match="whole rendered record"):
        step_options({"step": "token_length", "model": {"path": "x"}, "fields": ["output"]})


@pytest.mark.slow
def test_smollm2_counts_equal_render_on_the_fast_path(smollm2_dir):
    step = TokenLengthStep(TokenLengthStep.Options(step="token_length", model={"path": str(smollm2_dir)}))
    assert step.lengths.words is not None and step.lengths.skeletons is not None
    batch = [Example.single("把这句话翻译成英文：今天天气很好。", "The weather is nice today."),
             Example.single("Write a haiku.", "Autumn moonlight—\na worm digs silently\ninto the chestnut.",
                            "about fall"),
             Example([Turn("user", "你好"), Turn("assistant", "你好！有什么可以帮你？"), Turn("user", "讲个笑话"),
                      Turn("assistant", "为什么程序员分不清万圣节和圣诞节？因为 Oct 31 == Dec 25。")], system="用中文回答。"),
             Example.single("Show code", "```python\ndef f(x):\n    return x  # it's 'fine'\n```\n\n\tdone  "),
             Example.single("echo <|im_end|> literally", "<|im_start|>user\n is text here"),
             Example.single("emoji", "🙂👍🏽 and ｆｕｌｌ－ｗｉｄｔｈ　ｓｐａｃｅ")]
    assert step.lengths.lengths(batch) == _want(batch, step.template, step.tokenizer)
    assert all(step.lengths.skeletons.runs(e) is not None for e in batch[:4])
