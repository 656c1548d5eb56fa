"""Chat templates: how a conversation becomes a sequence of pieces, each piece marked as prompt,
answer, end-of-turn or glue, so that the loss mask comes from the structure and never from
searching the tokens for a response marker.

A template gives, for each turn in order, the pieces that turn adds. A user turn's pieces end with
the generation prompt ("[/INST]", "Assistant:", "<|im_start|>assistant\\n", ...), so the pieces of the
turns up to a user turn are exactly what the model sees at inference, and the training pieces of the
same conversation start with them. Pieces are either text or a token id (BOS/EOS inserted as ids,
never as text that a tokenizer might split).

  alpaca     Stanford Alpaca's prompt (with and without input), EOS after each answer
  llama2     Meta's chat format: <s>[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n{user} [/INST] {answer} </s>
  llama2-zh  FlagAlpha/Llama2-Chinese: <s>System: ..\\n</s><s>Human: ..\\n</s><s>Assistant: ..\\n</s>
  chatml     <|im_start|>role\\ncontent<|im_end|>\\n (needs <|im_start|>/<|im_end|> in the vocabulary)
  auto       the tokenizer's own chat template (see auto.py)
"""

from __future__ import annotations

from tunesmith.errors import ConfigError
from tunesmith.text import auto  # noqa: F401  registers "auto" first: the default
from tunesmith.text.template_base import REGISTRY, Piece, Template, register

__all__ = ["TEMPLATE_NAMES", "Piece", "Template", "add_chatml_tokens", "get_template"]

ALPACA_PREAMBLE = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.")
ALPACA_PREAMBLE_INPUT = ("Below is an instruction that describes a task, paired with an input that provides "
                         "further context. Write a response that appropriately completes the request.")
B_INST, E_INST = "[INST]", "[/INST]"
B_SYS, E_SYS = "<<SYS>>\n", "\n<</SYS>>\n\n"


@register
class Alpaca(Template):
    name = "alpaca"

    def __init__(self, tokenizer):
        super().__init__(tokenizer)
        # BOS only where the tokenizer itself starts sequences with it (Llama yes, SmolLM2 no).
        adds = tokenizer("a")["input_ids"]
        self.start = [Piece(token_id=self.bos)] if self.bos is not None and adds and adds[0] == self.bos else []

    def user(self, system, turn, first):
        if first:
            # Chosen from the first turn alone: later turns must not change what came before them.
            preamble = system if system is not None else (ALPACA_PREAMBLE_INPUT if turn.input else ALPACA_PREAMBLE)
            text = f"{preamble}\n\n" if preamble else ""
        else:
            text = ""  # the EOS of the previous answer already separates the exchanges
        text += f"### Instruction:\n{turn.content}\n\n"
        if turn.input:
            text += f"### Input:\n{turn.input}\n\n"
        text += "### Response:\n"
        return (self.start if first else []) + [Piece(text)]

    def assistant(self, turn, previous):
        return [Piece(turn.content, role="answer"), Piece(token_id=self.eos, role="end")]


@register
class Llama2(Template):
    """Meta's `chat_completion`: each exchange is BOS + "[INST] u [/INST] a " + EOS, contents stripped."""
    name = "llama2"

    def user(self, system, turn, first):
        content = turn.text
        if first and system is not None:
            content = B_SYS + system + E_SYS + content
        return [Piece(token_id=self._need_bos()), Piece(f"{B_INST} {content.strip()} {E_INST}")]

    def assistant(self, turn, previous):
        return [Piece(f" {turn.content.strip()} ", role="answer"), Piece(token_id=self.eos, role="end")]


@register
class Llama2Zh(Template):
    """FlagAlpha: <s>Human: u\\n</s><s>Assistant: a\\n</s>; the prompt ends at "Assistant:" so that the
    answer's first word keeps its own leading-space token, in the prompt and in training alike."""
    name = "llama2-zh"

    def user(self, system, turn, first):
        bos, eos = Piece(token_id=self._need_bos()), Piece(token_id=self.eos)
        pieces = [bos, Piece(f"System: {system}\n"), eos] if first and system is not None else []
        return pieces + [bos, Piece(f"Human: {turn.text}\n"), eos, bos, Piece("Assistant:")]

    def assistant(self, turn, previous):
        return [Piece(f" {turn.content}\n", role="answer"), Piece(token_id=self.eos, role="end")]


@register
class ChatML(Template):
    name = "chatml"

    def __init__(self, tokenizer):
        super().__init__(tokenizer)
        ids = {}
        for marker in ("<|im_start|>", "<|im_end|>"):
            tid = tokenizer.convert_tokens_to_ids(marker)
            if tid is None or tid == tokenizer.unk_token_id:
                raise ConfigError(f"template chatml needs the token {marker}, which the tokenizer does not have",
                                  "choose --template llama2 or alpaca for this model, or add the tokens with "
                                  "tunesmith.text.templates.add_chatml_tokens and resize the embeddings")
            ids[marker] = tid
        self.start, self.end = ids["<|im_start|>"], ids["<|im_end|>"]

    def _block(self, role: str, text: str) -> list[Piece]:
        return [Piece(token_id=self.start), Piece(f"{role}\n{text}"), Piece(token_id=self.end)]

    def user(self, system, turn, first):
        pieces = []
        if first and system is not None:
            pieces += self._block("system", system) + [Piece("\n")]
        if not first:
            pieces.append(Piece("\n"))  # the line break after the previous <|im_end|>
        return pieces + self._block("user", turn.text) + [Piece("\n"), Piece(token_id=self.start),
                                                          Piece("assistant\n")]

    def assistant(self, turn, previous):
        return [Piece(turn.content, role="answer"), Piece(token_id=self.end, role="end")]

    def end_ids(self):
        return list(dict.fromkeys([self.end, self.eos]))


def add_chatml_tokens(tokenizer) -> int:
    """Add <|im_start|>/<|im_end|> as special tokens; returns how many were added (resize the model)."""
    return tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})


TEMPLATE_NAMES: tuple[str, ...] = tuple(REGISTRY)  # the one list of names: config, CLI choices, UI


def get_template(name: str, tokenizer) -> Template:
    """The template `name` (auto, alpaca, llama2, llama2-zh, chatml) bound to `tokenizer`."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown template '{name}'", f"choose one of {', '.join(TEMPLATE_NAMES)}")
    return REGISTRY[name](tokenizer)
