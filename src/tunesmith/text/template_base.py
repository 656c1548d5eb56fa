"""The base of every chat template (`Piece`, `Template`) and the registry of templates by name.

A leaf module: templates.py (the built-in templates) and auto.py (the tokenizer's own) both import it
and register their classes with `@register`, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tunesmith.errors import ConfigError
from tunesmith.records.example import Turn

PieceRole = Literal["prompt", "answer", "end", "glue"]
REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Add a template class under its `name` (a class decorator)."""
    REGISTRY[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Piece:
    """Text to tokenize, or one token id; `role` says whether the loss sees it."""
    text: str | None = None
    token_id: int | None = None
    role: PieceRole = "prompt"

    @property
    def trained(self) -> bool:
        return self.role in ("answer", "end")


class Template:
    """Base: `turn_pieces(system, turns)` returns one list of pieces per turn."""

    name: str = "template"

    def __init__(self, tokenizer):
        self.bos = tokenizer.bos_token_id
        self.eos = tokenizer.eos_token_id
        if self.eos is None:
            raise ConfigError(f"template {self.name}: the tokenizer has no EOS token, so no answer could end",
                              "set eos_token in the tokenizer's tokenizer_config.json")

    def turn_pieces(self, system: str | None, turns: list[Turn]) -> list[list[Piece]]:
        out, previous = [], None
        for i, turn in enumerate(turns):
            if turn.role == "user":
                out.append(self.user(system, turn, first=(i == 0)))
            else:
                out.append(self.assistant(turn, previous))
            previous = turn
        return out

    def user(self, system: str | None, turn: Turn, first: bool) -> list[Piece]:  # pragma: no cover
        raise NotImplementedError

    def assistant(self, turn: Turn, previous: Turn | None) -> list[Piece]:  # pragma: no cover
        raise NotImplementedError

    def end_ids(self) -> list[int]:
        """Token ids that end an answer."""
        return [self.eos]

    def _need_bos(self) -> int:
        if self.bos is None:
            raise ConfigError(f"template {self.name} needs a BOS token (<s>) and the tokenizer has none",
                              "use a Llama tokenizer, or choose --template chatml or auto")
        return self.bos
