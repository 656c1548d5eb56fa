"""Regenerate src/tunesmith/resources/tiny-tokenizer: a 600-piece Llama-style SentencePiece model.

It behaves like Llama 2's tokenizer where tests care: <unk>=0, <s>=1, </s>=2, BPE with byte
fallback (any Chinese character or emoji encodes), a dummy prefix space, digits split, no
normalisation. Trained on a small English + Chinese corpus, so it is deterministic and tiny.
Run: python scripts/make_tiny_tokenizer.py
"""

import json
import tempfile
from pathlib import Path

import sentencepiece as spm

OUT = Path(__file__).resolve().parents[1] / "src" / "tunesmith" / "resources" / "tiny-tokenizer"

CORPUS = """\
The quick brown fox jumps over the lazy dog. What is the capital of France? Paris is the capital of France.
Write a short poem about the sea. Summarize the following text in one sentence. Translate it to Chinese.
Below is an instruction that describes a task. Write a response that appropriately completes the request.
### Instruction: ### Input: ### Response: Human: Assistant: System: You are a helpful assistant.
[INST] <<SYS>> <</SYS>> [/INST] <|im_start|> <|im_end|> user assistant system
The model learns to answer questions, follow instructions and stop at the end of its answer.
请你为这段内容生成一个合理的问题。北京是中国的首都。你好，今天天气怎么样？机器学习是人工智能的一个分支。
我们需要清洗数据，去除重复的内容和个人信息。大语言模型微调需要高质量的指令数据。谢谢你的帮助。
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text(CORPUS * 40, encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(tmp) / "tiny"), vocab_size=600, model_type="bpe",
            byte_fallback=True, character_coverage=1.0, split_digits=True, add_dummy_prefix=True,
            allow_whitespace_only_pieces=True, normalization_rule_name="identity",
            remove_extra_whitespaces=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            num_threads=1, minloglevel=2)
        (OUT / "tokenizer.model").write_bytes((Path(tmp) / "tiny.model").read_bytes())
    (OUT / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "legacy": False, "model_max_length": 4096,
        "clean_up_tokenization_spaces": False,
    }, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
