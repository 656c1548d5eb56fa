"""`quality`: drop answers that carry nothing to learn, and never an answer that is what the task asked.

Web-page quality rules (Gopher, C4, FineWeb) drop most good instruction records, which are short and,
in Chinese, unsegmented. These rules are about instruction data, and each reads the task beside the
answer (quality_text.py says what a task asks for):

- empty_output: the answer is blank.
- trivial_output: the answer has no letter, digit or CJK character. A task about symbols (a
  punctuation mark, an emoji, an operator, Morse code) or one whose request offers the symbol the
  answer picks ("> or <") gets what it asked; emoji or math signs nobody asked for are kept and
  flagged; bare punctuation or ASCII symbols ("……！", "#$%^") are dropped.
- output_echoes_input: the answer says the instruction or the input back (case, spaces and
  punctuation aside). An edit task (proofread, punctuate, correct the grammar, split into paragraphs,
  reorder) answered with the input changed only where it asked is no echo; answered with the input
  unchanged it may be right ("already in order"): kept and flagged. So is an echo of one or two words
  (an extraction task's answer can be its input).
- repetitive: most of the answer sits in a loop, i.e. later copies of one sentence or line, or a short piece
  repeated back to back. Parallel structure (sentences built alike around different content),
  lists, tables, code and a refrain are no loop, and a task that asks for repetition gets it.
- same_answers (preference pairs): the chosen and rejected answers are one text (whitespace aside), e.g.
  after cleaning removed what told them apart. Every other rule judges each answer of a pair.
- special_characters: most characters are symbols, outside code, tables and URLs. Not applied when
  the task asks for something made of symbols: a regex, a password, emoji, Morse code, ASCII art,
  code or markup, a formula.

Counting is by script-aware units (a Han character or a Latin word) so Chinese and English are judged alike.
"""

from __future__ import annotations

import re
import unicodedata

from typing import Literal

from pydantic import Field

from tunesmith.records.example import Example, FieldName
from tunesmith.records.formats.preference import same_answers
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.quality_text import (ASKS_EDIT, ASKS_REPETITION, ASKS_SYMBOLS, NORMALISE, could_echo,
                                               loop_share, same_words, special_ratio, text_units, too_few_units)


class QualityOptions(StepOptions):
    fields: list[FieldName] = Field(default_factory=lambda: ["output"], description=(
        "Texts the repetition and special-character rules read (the empty/echo rules always read the output)."))
    min_output_units: int = Field(1, ge=0, description=(
        "Drop answers with fewer units (a Han character or a Latin word/number); 0 keeps empty answers."))
    drop_echo: bool = Field(True, description="Drop answers equal to the instruction or the input (ignoring "
                                              "case, spaces and punctuation), unless the task asked for that edit.")
    max_repeat_ratio: float = Field(0.6, gt=0, le=1, description=(
        "Drop texts where more than this share of the characters sit in a loop (later copies of a sentence, "
        "or a piece repeated back to back)."))
    max_special_ratio: float = Field(0.35, gt=0, le=1, description=(
        "Drop texts with more than this share of symbols (code, tables and URLs excluded)."))
    rejected: Literal["flag", "drop"] = Field("flag", description=(
        "Preference pairs, when a rule fires on the REJECTED answer only: flag (keep the pair; a rejected answer\n"
        "full of AI boilerplate, a refusal or a loop is the contrast preference tuning learns from) or drop.\n"
        "A rule firing on the chosen answer always drops the pair."))


@register
class QualityStep(Step):
    """Drop empty, trivial, echoing, looping or symbol-heavy answers (what the task asked for stays)."""

    name = "quality"
    Options = QualityOptions

    def apply(self, example: Example) -> Example | Drop:
        if example.rejected is None:
            return self._judge(example)
        # A pair: each answer is judged as the record it makes with the prompt. A bad chosen answer drops the
        # pair; a bad rejected one is what the pair teaches to avoid, so it is flagged (`rejected: flag`).
        # Answers that a step left equal prefer nothing.
        if same_answers(example.output, example.rejected.content):
            return Drop("same_answers", repr(example.output[:80]))
        chosen = self._judge(Example(example.turns, example.system, example.meta))
        if isinstance(chosen, Drop):
            return Drop(chosen.reason, f"chosen answer: {chosen.detail}")
        rejected = self._judge(example.with_answer(example.rejected))
        if isinstance(rejected, Drop):
            if self.options.rejected == "drop":
                return Drop(rejected.reason, f"rejected answer: {rejected.detail}")
            self.flag(example, f"rejected:{rejected.reason}", rejected.detail)
        return example

    def _judge(self, example: Example) -> Example | Drop:
        o = self.options
        output = example.output
        if o.min_output_units and too_few_units(output, o.min_output_units):
            if not output.strip():
                return Drop("empty_output", repr(output[:80]))
            return self._few_units(example, output)
        if o.drop_echo and output.strip():
            echo = self._echo(example, output)
            if echo is not None:
                return echo
        texts = read_texts(example, o.fields)
        asks_repetition = asks_symbols = None  # read the request only when a rule would fire
        for text in texts:
            ratio = loop_share(text) if len(text) >= 8 else 0.0
            if ratio > o.max_repeat_ratio:
                if asks_repetition is None:
                    asks_repetition = ASKS_REPETITION.search(_request(example)) is not None
                if not asks_repetition:
                    return Drop("repetitive", f"{ratio:.2f} of characters in a loop")
            ratio = special_ratio(text, o.max_special_ratio)
            if ratio > o.max_special_ratio:
                if asks_symbols is None:
                    asks_symbols = ASKS_SYMBOLS.search(_request(example)) is not None
                if not asks_symbols:
                    return Drop("special_characters", f"{ratio:.2f} of characters are symbols")
        return example

    def _few_units(self, example: Example, output: str) -> Example | Drop:
        """An answer under `min_output_units`: symbols may be exactly what was asked."""
        if text_units(output):  # words, but fewer than the configured least: the user's own bar
            return Drop("trivial_output", repr(output[:80]))
        request = _request(example)
        if ASKS_SYMBOLS.search(request) or all(c in request for c in output if not c.isspace()):
            return example  # a task about symbols, or the answer picks one the request offers
        if any(not c.isascii() and unicodedata.category(c)[0] == "S" for c in output):
            return self.flag(example, "symbols_only", repr(output[:80]))  # emoji, math signs: cannot tell
        return Drop("trivial_output", repr(output[:80]))

    def _echo(self, example: Example, output: str) -> Example | Drop | None:
        """Drop (or flag) an answer that says the instruction or the input back; None when it does not."""
        said = None
        for which, other in (("instruction", example.instruction), ("input", example.input)):
            if not other or not could_echo(output, other):
                continue
            said = NORMALISE.sub("", output).lower() if said is None else said
            if not (said and same_words(said, other)):
                continue
            if which == "input" and ASKS_EDIT.search(example.instruction):
                if output.strip() != other.strip():
                    return None  # changed where the task asked: punctuation, spelling, case, paragraphs
                return self.flag(example, "unchanged_input", repr(output[:80]))
            if len(text_units(output)) < 3:
                return self.flag(example, "short_echo", repr(output[:80]))
            return Drop("output_echoes_input", repr(output[:80]))
        return None


def _request(example: Example) -> str:
    """The instruction and its input: what the task asks for."""
    return f"{example.instruction}\n{example.input}"
