"""The one record every format reads into and writes out of.

An `Example` is a conversation: an optional system prompt and alternating user/assistant turns.
A preference pair (alignment tuning) is an Example whose last assistant turn is the chosen answer and
whose `rejected` turn is the other answer to the same prompt: every data step that reads or rewrites
"output" (or "all") sees both answers, and a drop drops the pair.
Alpaca's `input` (the context that goes with an instruction) stays its own field on the user turn,
so that an Alpaca record converts to an Example and back without loss, and so that data steps can
apply to "the instruction", "the input" or "the output" as a practitioner thinks of them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal

Role = Literal["user", "assistant"]
ROLES: tuple[str, ...] = ("user", "assistant")

# The names data steps use to choose which text they touch.
FieldName = Literal["system", "instruction", "input", "output", "all"]
FIELD_NAMES: tuple[str, ...] = ("system", "instruction", "input", "output", "all")
_KNOWN_FIELDS = frozenset(FIELD_NAMES)


@dataclass
class Turn:
    role: Role
    content: str
    input: str | None = None  # Alpaca's `input`: context attached to a user turn

    @property
    def text(self) -> str:
        """What a chat template shows for this turn: the content, then the input if any."""
        return f"{self.content}\n{self.input}" if self.input else self.content


@dataclass
class Example:
    turns: list[Turn]
    system: str | None = None
    # Where the record came from (`source`, `line`, `id`) and any extra fields it carried
    # (`upvotes`, `score`, ...), which metadata filters and writers keep.
    meta: dict = field(default_factory=dict)
    # A preference pair: the answer not preferred to the last (chosen) assistant turn; None for SFT records.
    rejected: Turn | None = None

    @property
    def is_pair(self) -> bool:
        return self.rejected is not None

    # -- checks ---------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Why this record cannot be trained on; empty when it is fine."""
        if not self.turns:
            return ["empty conversation: no turns"]
        found = []
        for i, turn in enumerate(self.turns):
            want = ROLES[i % 2]
            if turn.role != want:
                roles = ",".join(t.role for t in self.turns)
                found.append(f"turn {i + 1} is '{turn.role}' but '{want}' was expected (roles: {roles}); "
                             "turns must alternate user, assistant, starting with user")
                break
            if not isinstance(turn.content, str):
                found.append(f"turn {i + 1} content is {type(turn.content).__name__}, not text")
        if self.turns[-1].role != "assistant":
            found.append("the last turn is not an assistant answer: nothing to learn")
        if self.rejected is not None and (self.rejected.role != "assistant" or not isinstance(self.rejected.content, str)):
            found.append("the rejected answer must be an assistant turn with text")
        return found

    # -- field access for data steps -----------------------------------------------------------
    @property
    def instruction(self) -> str:
        users = [t for t in self.turns if t.role == "user"]
        return users[-1].content if users else ""

    @property
    def input(self) -> str:
        users = [t for t in self.turns if t.role == "user"]
        return (users[-1].input or "") if users else ""

    @property
    def output(self) -> str:
        answers = [t for t in self.turns if t.role == "assistant"]
        return answers[-1].content if answers else ""

    def with_answer(self, answer: Turn) -> "Example":
        """This conversation with its last assistant turn replaced by `answer` (a pair's rejected side)."""
        turns = list(self.turns)
        last = max(i for i, t in enumerate(turns) if t.role == "assistant")
        turns[last] = answer
        return Example(turns, self.system, self.meta)

    def texts(self, fields: tuple[str, ...] | list[str] = ("all",)) -> Iterator[str]:
        """The texts named by `fields`, for steps that only read."""
        return iter(self.text_list(fields))

    def text_list(self, fields: tuple[str, ...] | list[str] = ("all",)) -> list[str]:
        """`texts(fields)` as a list, in the same order as `_slots`. Steps call this on every record, so it
        walks the turns directly instead of building the getter/setter closures `map_text` needs."""
        if not _KNOWN_FIELDS.issuperset(fields):
            self._check_fields(fields)
        system = self.system if ("all" in fields or "system" in fields) else None
        out = [system] if system else []
        if "all" in fields:
            for turn in self.turns:
                if turn.content:
                    out.append(turn.content)
                if turn.input:
                    out.append(turn.input)
            if self.rejected is not None and self.rejected.content:
                out.append(self.rejected.content)
            return out
        want_instruction, want_input, want_output = "instruction" in fields, "input" in fields, "output" in fields
        if not (want_instruction or want_input or want_output):
            return out
        last_user = last_answer = None
        for i in range(len(self.turns) - 1, -1, -1):
            role = self.turns[i].role
            if role == "user" and last_user is None:
                last_user = i
            elif role == "assistant" and last_answer is None:
                last_answer = i
            if last_user is not None and last_answer is not None:
                break
        if last_user is None or last_answer is None:
            chosen = (last_user,) if last_answer is None else (last_answer,)
        else:
            chosen = (last_user, last_answer) if last_user < last_answer else (last_answer, last_user)
        for i in chosen:
            if i is None:
                continue
            turn = self.turns[i]
            if turn.content and ((want_instruction and i == last_user) or (want_output and i == last_answer)):
                out.append(turn.content)
            if turn.input and want_input and i == last_user:
                out.append(turn.input)
        if want_output and self.rejected is not None and self.rejected.content:
            out.append(self.rejected.content)
        return out

    def map_text(self, fn: Callable[[str], str], fields: tuple[str, ...] | list[str] = ("all",)) -> "Example":
        """Apply `fn` to each chosen text in place; returns self for chaining."""
        for _, get, put in self._slots(fields):
            value = get()
            if value:
                put(fn(value))
        return self

    @staticmethod
    def _check_fields(fields) -> None:
        unknown = set(fields) - _KNOWN_FIELDS
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; choose from {list(FIELD_NAMES)}")

    def copy(self) -> "Example":
        return copy.deepcopy(self)

    def _slots(self, fields):
        """(name, getter, setter) for every text slot named by `fields`, each slot once."""
        wanted = set(fields)
        self._check_fields(wanted)
        every = "all" in wanted
        last_user = max((i for i, t in enumerate(self.turns) if t.role == "user"), default=None)
        last_answer = max((i for i, t in enumerate(self.turns) if t.role == "assistant"), default=None)
        if (every or "system" in wanted) and self.system is not None:
            yield "system", lambda: self.system, lambda v: setattr(self, "system", v)
        for i, turn in enumerate(self.turns):
            if every or ("instruction" in wanted and i == last_user) or ("output" in wanted and i == last_answer):
                yield f"turn{i}", (lambda t=turn: t.content), (lambda v, t=turn: setattr(t, "content", v))
            if turn.input is not None and (every or ("input" in wanted and i == last_user)):
                yield f"input{i}", (lambda t=turn: t.input), (lambda v, t=turn: setattr(t, "input", v))
        if self.rejected is not None and (every or "output" in wanted):
            r = self.rejected
            yield "rejected", (lambda: r.content), (lambda v: setattr(r, "content", v))

    # -- plain data round trip (rejected.jsonl, shards, worker processes) ------------------------
    def to_dict(self) -> dict:
        turns = [{"role": t.role, "content": t.content, **({"input": t.input} if t.input is not None else {})}
                 for t in self.turns]
        out: dict = {"turns": turns}
        if self.system is not None:
            out["system"] = self.system
        if self.meta:
            out["meta"] = self.meta
        if self.rejected is not None:
            out["rejected"] = {"role": self.rejected.role, "content": self.rejected.content}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Example":
        turns = [Turn(t["role"], t["content"], t.get("input")) for t in d["turns"]]
        rejected = d.get("rejected")
        return cls(turns=turns, system=d.get("system"), meta=dict(d.get("meta") or {}),
                   rejected=Turn(rejected["role"], rejected["content"]) if rejected else None)

    @classmethod
    def single(cls, instruction: str, output: str, input: str | None = None, system: str | None = None,
               **meta) -> "Example":
        """A one-question, one-answer record (the Alpaca shape)."""
        return cls([Turn("user", instruction, input or None), Turn("assistant", output)], system, dict(meta))
