"""Example + template + tokenizer -> token ids and labels; the same code path makes inference prompts.

Text pieces are tokenized as plain text (special-token strings in them stay text); templates put
their special tokens in as ids. Labels come from the template's pieces: a token is trained when it comes from an answer piece or an
end-of-turn piece, and is -100 otherwise. Nothing compares ids with the pad id or searches for a
marker, so pad = eos cannot mask the end token, and every assistant turn is trained (or only the
last one, with train_on="last").

Text pieces that follow each other without a token id between them are tokenized together, as the
reference implementations do (Meta tokenizes "[INST] u [/INST] a " in one call): each piece's ids are
the ids of the run so far minus the ids before it. Should a tokenizer merge characters across a
piece boundary (rare: BPE newlines), the piece is tokenized alone, so that the inference prompt is
still exactly the start of the training ids.
"""

from __future__ import annotations

from tunesmith.records.example import Example, Turn
from tunesmith.errors import DataError
from tunesmith.text.sample import IGNORE_INDEX, Sample
from tunesmith.text.spm import encode_plain
from tunesmith.text.templates import Piece, Template

class TooLong(DataError):
    """A sample does not fit max_seq_len under the truncation policy."""

    def __init__(self, message: str, hint: str | None = None, length: int = 0, max_seq_len: int = 0):
        super().__init__(message, hint)
        self.length = length
        self.max_seq_len = max_seq_len


def render(example: Example, template: Template, tokenizer, *, max_seq_len: int, train_on: str = "all",
           truncation: str = "cut_oldest") -> Sample:
    """Training ids and labels for `example`, fitted to `max_seq_len` by `truncation` (drop | cut_oldest)."""
    if train_on not in ("all", "last"):
        raise ValueError(f"train_on must be 'all' or 'last', not {train_on!r}")
    if truncation not in ("drop", "cut_oldest"):
        raise ValueError(f"truncation must be 'drop' or 'cut_oldest', not {truncation!r}")
    _check_turns(example, example.turns, need_answer=True)
    turns, cut = list(example.turns), 0
    while True:
        ids, trained, turn_of = _tokens(template, tokenizer, example.system, turns)
        if len(ids) <= max_seq_len:
            break
        if truncation == "drop" or len(turns) <= 2:
            what = "the sample" if cut == 0 else f"the last exchange alone (after cutting {cut} turns)"
            raise TooLong(f"{_name(example)}: {what} is {len(ids)} tokens, more than max_seq_len={max_seq_len}",
                          "raise template.max_seq_len" + (", or use truncation=cut_oldest for multi-turn records"
                                                          if truncation == "drop" else ""),
                          length=len(ids), max_seq_len=max_seq_len)
        # Cut the oldest exchange (a user turn and its answer): the end token is never cut.
        turns, cut = turns[2:], cut + 2
    last = len(turns) - 1
    labels = [tid if flag and (train_on == "all" or turn_of[i] == last) else IGNORE_INDEX
              for i, (tid, flag) in enumerate(zip(ids, trained))]
    return Sample(ids, labels, truncated=cut > 0, turns_cut=cut)


def render_prompt(example: Example, template: Template, tokenizer) -> list[int]:
    """The inference prompt: the turns up to the last user turn, then the generation prompt.

    A final assistant turn is left out, so for a training record this gives the prompt its answer
    was trained after: `render_prompt(ex)` is a prefix of `render(ex).input_ids` when nothing was cut.
    """
    turns = list(example.turns)
    if turns and turns[-1].role == "assistant":
        turns.pop()
    _check_turns(example, turns, need_answer=False)
    return _tokens(template, tokenizer, example.system, turns)[0]


def stop_token_ids(template: Template, tokenizer) -> list[int]:
    """Ids that end an answer (EOS, <|im_end|>, ...): generation stops at any of them."""
    ids = list(template.end_ids())
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    return [i for i in dict.fromkeys(ids) if i is not None]


def _tokens(template: Template, tokenizer, system: str | None, turns: list[Turn]):
    """(ids, trained flag per id, turn index per id)."""
    ids: list[int] = []
    trained: list[bool] = []
    turn_of: list[int] = []
    run_text, run_ids, run_ok = "", [], True
    for t, pieces in enumerate(template.turn_pieces(system, turns)):
        for piece in merge_text(pieces):
            if piece.token_id is not None:
                new = [piece.token_id]
                run_text, run_ids, run_ok = "", [], True
            elif piece.text:
                whole = encode_plain(tokenizer, run_text + piece.text)
                if run_ok and whole[:len(run_ids)] == run_ids:
                    new = whole[len(run_ids):]
                else:
                    new = encode_plain(tokenizer, piece.text)
                    run_ok = False
                run_text += piece.text
                run_ids = run_ids + new
            else:
                continue
            ids += new
            trained += [piece.trained] * len(new)
            turn_of += [t] * len(new)
    return ids, trained, turn_of


def merge_text(pieces: list[Piece]) -> list[Piece]:
    """Join neighbouring text pieces of the same role: only role changes need a token boundary."""
    out: list[Piece] = []
    for piece in pieces:
        if out and piece.text is not None and out[-1].text is not None and out[-1].role == piece.role:
            out[-1] = Piece(out[-1].text + piece.text, role=piece.role)
        else:
            out.append(piece)
    return out


def text_runs(turns, text=lambda t: t) -> tuple[list[list], int]:
    """The runs of text between token-id pieces, as `render` tokenizes them: each run a list of
    `text(piece.text)` over `merge_text` of each turn's pieces; and how many token-id pieces there are."""
    runs: list[list] = []
    current: list = []
    ids = 0
    for pieces in turns:
        for piece in merge_text(pieces):
            if piece.token_id is not None:
                ids += 1
                if current:
                    runs.append(current)
                    current = []
            elif piece.text:
                current.append(text(piece.text))
    if current:
        runs.append(current)
    return runs, ids


def _check_turns(example: Example, turns: list[Turn], need_answer: bool) -> None:
    if not turns:
        raise DataError(f"{_name(example)}: empty conversation: nothing to render")
    for i, turn in enumerate(turns):
        want = ("user", "assistant")[i % 2]
        if turn.role != want:
            raise DataError(f"{_name(example)}: turn {i + 1} is '{turn.role}' but '{want}' was expected",
                            "turns must alternate user, assistant, starting with user")
    if need_answer and turns[-1].role != "assistant":
        raise DataError(f"{_name(example)}: the last turn is not an assistant answer: nothing to train on",
                        "use render_prompt for prompts")
    if not need_answer and turns[-1].role != "user":
        raise DataError(f"{_name(example)}: no user turn to answer")


def _name(example: Example) -> str:
    meta = example.meta or {}
    if meta.get("source") and meta.get("line"):
        return f"{meta['source']}:{meta['line']}"
    return str(meta.get("id") or "record")
