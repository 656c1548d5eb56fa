"""`safety` (value control): drop or flag records with harmful content, by lexicon and, optionally, a classifier.

Shipped categories (Chinese and English phrase lists under resources/lexicons/safety/): discrimination
(racism and other bigotry), abuse, violence, sexual, illegal. Matching is one Aho-Corasick pass
(correct for unsegmented Chinese) with word boundaries for Latin phrases; an allow list ignores hits
inside harmless phrases ("kill the process", "反诈骗"). Users add their own lexicons per category.

`action: flag` keeps the record and writes what was found to `meta["safety"]` so it can be reviewed;
`drop` rejects it. A classifier hook (`classifier: package.module:function`) takes a list of texts and
returns one score in [0, 1] per text (or a dict of category -> score); records at or above
`classifier_threshold` are treated like a lexicon hit of category `classifier` (or the dict's key).
"""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Literal

from pydantic import Field, field_validator

from tunesmith.data.example import Example
from tunesmith.data.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.data.steps.lexicon import PhraseMatcher, read_lexicon, shipped, shipped_categories
from tunesmith.errors import ConfigError

SAFETY_CATEGORIES = ("discrimination", "abuse", "violence", "sexual", "illegal")


class SafetyOptions(StepOptions):
    categories: list[str] = Field(default_factory=lambda: list(SAFETY_CATEGORIES), description=(
        "Shipped lexicon categories to use: discrimination, abuse, violence, sexual, illegal."))
    lexicons: dict[str, list[str]] = Field(default_factory=dict, description=(
        "Your own lexicon files per category, e.g. {violence: [my_violence.txt], brand: [competitors.txt]}."))
    allow: list[str] = Field(default_factory=list, description=(
        "Extra allow-list files: hits inside these phrases are ignored (the shipped allow list always applies)."))
    action: Literal["drop", "flag"] = Field("drop", description=(
        "drop the record, or flag it (kept, with meta.safety = {categories, terms})."))
    actions: dict[str, Literal["drop", "flag"]] = Field(default_factory=dict, description=(
        "Per-category action overriding `action`, e.g. {abuse: flag}."))
    min_hits: int = Field(1, ge=1, description="Hits (in one category) needed before the action applies.")
    classifier: str | None = Field(None, description=(
        "Optional `module:function` taking list[str] and returning a score (or {category: score}) per text."))
    classifier_threshold: float = Field(0.5, ge=0, le=1, description="Classifier scores at or above this count as a hit.")

    @field_validator("categories")
    @classmethod
    def _known(cls, v):
        known = [c for c in shipped_categories("safety") if c != "allow"]
        bad = [c for c in v if c not in known]
        if bad:
            raise ValueError(f"unknown categories {bad}; shipped: {known} (add others with `lexicons`)")
        return v


def load_classifier(spec: str):
    module, _, attr = spec.partition(":")
    if not attr:
        raise ConfigError(f"safety.classifier '{spec}' is not module:function", "e.g. my_pkg.moderation:score")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"safety.classifier '{spec}' cannot be loaded: {e}",
                          "the module must be importable from where tunesmith runs") from None


class SafetyStep(Step):
    """Drop or flag harmful content by lexicon (zh/en) and an optional classifier."""

    name = "safety"
    Options = SafetyOptions

    def __init__(self, options: SafetyOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        entries = [(p, c) for c in o.categories for p in shipped("safety", c)]
        for category, paths in o.lexicons.items():
            entries += [(p, category) for path in paths for p in read_lexicon(path)]
        entries += [(p, "allow") for p in shipped("safety", "allow")]
        entries += [(p, "allow") for path in o.allow for p in read_lexicon(path)]
        self.matcher = PhraseMatcher(entries)
        self.classifier = load_classifier(o.classifier) if o.classifier else None
        self._fields = tuple(o.fields)

    def hits(self, text: str) -> list[tuple[str, str]]:
        """(category, phrase) for every hit in `text` that no allow-listed phrase covers."""
        found = self.matcher.find(text)
        allowed = [(m.start, m.end) for m in found if m.category == "allow"]
        return [(m.category, m.phrase) for m in found if m.category != "allow"
                and not any(s <= m.start and m.end <= e for s, e in allowed)]

    def apply(self, example: Example) -> Example | Drop:
        hits = [h for text in read_texts(example, self._fields) for h in self.hits(text)]
        return self._decide(example, hits)

    def apply_batch(self, examples: list[Example]) -> list[Example | Drop]:
        if self.classifier is None:
            return [self.apply(e) for e in examples]
        texts = ["\n".join(read_texts(e, self._fields)) for e in examples]
        scores = self.classifier(texts)
        if len(scores) != len(texts):
            raise ValueError(f"classifier returned {len(scores)} scores for {len(texts)} texts")
        out = []
        for example, score in zip(examples, scores):
            hits = [h for text in read_texts(example, self._fields) for h in self.hits(text)]
            items = score.items() if isinstance(score, dict) else [("classifier", score)]
            hits += [(cat, f"score {float(s):.2f}") for cat, s in items if float(s) >= self.options.classifier_threshold]
            out.append(self._decide(example, hits))
        return out

    def _decide(self, example: Example, hits: list[tuple[str, str]]) -> Example | Drop:
        if not hits:
            return example
        by_category = Counter(c for c, _ in hits)
        hit_categories = sorted(c for c, n in by_category.items() if n >= self.options.min_hits)
        if not hit_categories:
            return example
        for c in hit_categories:
            self.stats.counts[c] += 1
        terms = sorted({p for c, p in hits if c in hit_categories})
        dropping = [c for c in hit_categories if self.options.actions.get(c, self.options.action) == "drop"]
        if dropping:
            return Drop(dropping[0], ", ".join(terms[:10]))
        example.meta["safety"] = {"categories": hit_categories, "terms": terms[:10]}
        self.stats.counts["flagged"] += 1
        self.stats.changed += 1
        return example
