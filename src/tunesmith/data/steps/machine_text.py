"""`machine_text`: answers copied from a chat assistant (AI-identity talk, canned refusals,
knowledge-cutoff talk) and translationese.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from tunesmith.data.example import Example, FieldName
from tunesmith.data.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.data.steps.lexicon import PhraseMatcher, read_lexicon, shipped, shipped_categories


MACHINE_DROP = ("ai_identity", "refusal", "knowledge_cutoff")


class MachineTextOptions(StepOptions):
    fields: list[FieldName] = Field(default_factory=lambda: ["output"], description="Texts searched (the answers, usually).")
    categories: list[str] = Field(default_factory=lambda: list(MACHINE_DROP), description=(
        "Shipped phrase lists that drop a record on one hit: ai_identity (\"As an AI language model\",\n"
        "\"作为一个人工智能语言模型\"), refusal, knowledge_cutoff."))
    phrases: list[str] = Field(default_factory=list, description="Your own phrases that drop a record on one hit.")
    lexicons: list[str] = Field(default_factory=list, description="Your own phrase files (one phrase per line).")
    translationese_min: int = Field(3, ge=0, description=(
        "Drop when this many different translationese markers appear (0 = off)."))

    @field_validator("categories")
    @classmethod
    def _known(cls, v):
        known = [c for c in shipped_categories("machine") if c != "translationese"]
        bad = [c for c in v if c not in known]
        if bad:
            raise ValueError(f"unknown categories {bad}; shipped: {known}")
        return v


class MachineTextStep(Step):
    """Drop AI-identity talk, canned refusals, knowledge-cutoff talk, translationese."""

    name = "machine_text"
    Options = MachineTextOptions

    def __init__(self, options: MachineTextOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        entries = [(p, c) for c in o.categories for p in shipped("machine", c)]
        entries += [(p, "custom") for p in o.phrases]
        entries += [(p, "custom") for path in o.lexicons for p in read_lexicon(path)]
        if o.translationese_min:
            entries += [(p, "translationese") for p in shipped("machine", "translationese")]
        self.matcher = PhraseMatcher(entries)
        self._fields = tuple(o.fields)

    def apply(self, example: Example) -> Example | Drop:
        markers = set()
        for text in read_texts(example, self._fields):
            for m in self.matcher.find(text):
                if m.category == "translationese":
                    markers.add(m.phrase)
                    continue
                self.stats.counts[m.category] += 1
                return Drop(m.category, m.phrase)
        if self.options.translationese_min and len(markers) >= self.options.translationese_min:
            self.stats.counts["translationese"] += 1
            return Drop("translationese", ", ".join(sorted(markers)))
        return example
