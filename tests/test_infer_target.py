"""Run folders and plain models as generation targets: every method's adapter acts on generation."""

import pytest
import torch

from run_factory import greedy_by_forward, make_run
from tunesmith.records.example import Example
from tunesmith.errors import ModelLoadError
from tunesmith.infer.generate import Generation, Sampling
from tunesmith.infer.target import messages_to_example, open_target

METHODS = ["lora", "dora", "ia3", "adalora", "prefix", "prompt", "ptuning", "full"]
STEPS = 8


@pytest.mark.parametrize("method", METHODS)
def test_every_method_acts_on_generation(tmp_path, tiny_model_dir, method):
    run = make_run(tmp_path / method, method, base_dir=tiny_model_dir)
    target = open_target(run)
    assert target.method == method and target.template.name == "llama2-zh"
    prompt = target.prompt_ids(Example.single("Tell me about the sea.", ""))
    greedy = Sampling(max_new_tokens=STEPS, temperature=0.0)
    gen = Generation(target.model, target.tokenizer, prompt, greedy, stop_ids=[-1])  # no stop: compare all steps
    "".join(gen)
    tuned = gen.completion.token_ids
    # generate() must agree with the forward pass the adapter was trained through ...
    assert tuned == greedy_by_forward(target.model, prompt, STEPS)
    # ... and the tuned answer must differ from the base model's answer to the same prompt.
    with target.base() as base:
        base_gen = Generation(base, target.tokenizer, prompt, greedy, stop_ids=[-1])
        "".join(base_gen)
        assert base_gen.completion.token_ids == greedy_by_forward(base, prompt, STEPS)
    assert base_gen.completion.token_ids != tuned
    # the base view is the real base: same logits as the base folder loaded on its own
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    assert base_gen.completion.token_ids == greedy_by_forward(plain, prompt, STEPS)


def test_run_template_and_system_are_used(tmp_path, tiny_model_dir):
    run = make_run(tmp_path / "run", "lora", base_dir=tiny_model_dir)
    target = open_target(run)
    text = target.tokenizer.decode(target.prompt_ids(Example.single("hi", "")))
    assert "Human: hi" in text and text.rstrip().endswith("Assistant:")
    target.system = "Be brief."
    text = target.tokenizer.decode(target.prompt_ids(messages_to_example([{"role": "user", "content": "hi"}])))
    assert "System: Be brief." in text


def test_plain_model_without_chat_template_names_the_fix(tiny_model_dir):
    from tunesmith.errors import ConfigError

    with pytest.raises(ConfigError, match="no chat template"):
        open_target(str(tiny_model_dir))
    target = open_target(str(tiny_model_dir), template="alpaca")
    assert "### Response:" in target.tokenizer.decode(target.prompt_ids(Example.single("hi", "")))


def test_run_folder_without_a_model_is_a_clear_error(tmp_path, tiny_model_dir):
    from tunesmith.errors import TunesmithError

    run = make_run(tmp_path / "run", "lora", base_dir=tiny_model_dir)
    import shutil

    shutil.rmtree(run / "adapter")
    with pytest.raises(TunesmithError, match="no trained adapter/ or model/"):
        open_target(run)
    (run / "config.yaml").unlink()
    with pytest.raises(ModelLoadError, match="neither a tunesmith run folder nor a model folder"):
        open_target(run)


def test_messages_validation():
    from tunesmith.errors import DataError

    ex = messages_to_example([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    assert ex.system == "s" and ex.turns[0].content == "u"
    with pytest.raises(DataError, match="only come first"):
        messages_to_example([{"role": "user", "content": "u"}, {"role": "system", "content": "s"}])
    with pytest.raises(DataError, match="role 'tool'"):
        messages_to_example([{"role": "tool", "content": "u"}])


def test_run_tokenizer_tokenizes_like_training(tmp_path, tiny_model_dir):
    # run/tokenizer/ reloaded by transformers loses the SentencePiece repair training applied
    from tunesmith.config import ModelConfig
    from tunesmith.model.load import load_tokenizer

    run = make_run(tmp_path / "run", "lora", base_dir=tiny_model_dir)
    target = open_target(run)
    training = load_tokenizer(ModelConfig(path=str(tiny_model_dir)))
    for text in ("  two leading spaces", " lead", "a  b   c", "你好 世界"):
        assert target.tokenizer(text).input_ids == training(text).input_ids, text


@pytest.mark.parametrize("method", ["prefix", "prompt", "ptuning"])
def test_batched_generation_of_prompt_learning_equals_one_at_a_time(tmp_path, tiny_model_dir, method):
    # generate/eval batch left-padded prompts: the virtual tokens must still sit right before each prompt
    from tunesmith.infer.generate import generate_batch

    target = open_target(make_run(tmp_path / method, method, base_dir=tiny_model_dir))
    prompts = [target.prompt_ids(Example.single(q, "")) for q in ("hi", "a somewhat longer question here", "你好")]
    greedy = Sampling(max_new_tokens=5)
    batched = generate_batch(target.model, target.tokenizer, prompts, greedy, [-1], batch_size=3, progress=False)
    for prompt, answer in zip(prompts, batched):
        assert answer.token_ids == greedy_by_forward(target.model, prompt, 5)


def test_streamed_pieces_add_up_to_the_final_text(tiny_model_dir):
    """Byte-fallback tokens decode differently alone and in a run (an unfinished UTF-8 sequence becomes
    U+FFFD for every byte), so text must not be streamed until a byte run is closed."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.infer.generate import byte_fallback_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(byte_fallback_ids(tok)) == 256
    prompt = tok("Write a poem about the sea.").input_ids
    saw_bytes = False
    for seed in range(6):  # a random model samples byte tokens often
        gen = Generation(model, tok, prompt, Sampling(max_new_tokens=24, temperature=1.5, seed=seed), stop_ids=[-1])
        pieces = list(gen)
        saw_bytes |= any(i in byte_fallback_ids(tok) for i in gen.completion.token_ids)
        assert "".join(pieces) == gen.completion.text
    assert saw_bytes


def test_load_trained_gives_the_sentencepiece_ids_of_training(tmp_path, tiny_model_dir):
    """transformers rebuilds a saved Llama tokenizer's normalizer: the repair must be re-applied on load."""
    import sentencepiece as spm

    from tunesmith.text.spm import encode_plain
    from tunesmith.runs.folder import load_trained

    run = make_run(tmp_path / "r", "lora", base_dir=tiny_model_dir)
    _, tokenizer, _ = load_trained(run, device="cpu")
    sp = spm.SentencePieceProcessor(model_file=str(tiny_model_dir / "tokenizer.model"))
    for text in [" lead", "two  spaces", "  indented", "你好 world"]:
        assert encode_plain(tokenizer, text) == sp.encode(text), text
