"""`safety` (value control, 价值观控制): drop or flag records whose text does harm.

Harm is what a sentence does: threaten or incite violence against a person, insult a person, show
contempt for a group or use a slur, sexualise minors or ask for pornography, teach or offer serious
crime. The rules (safety_patterns.py; files under resources/lexicons/safety/) find such sentences
by phrase patterns with slots, on Chinese word boundaries (jieba) and English word boundaries, and
clear a hit when its context shows the text talks about harm instead of doing it: negation and
advice against it, prevention, condemnation, a word discussed as a word, a claim attributed to
others, a victim asking for help, a character's quoted speech, history and news.

Per category, `drop` rejects the record and `flag` keeps it marked for review (meta.flags and
meta.safety); a hit that a context cleared is kept (or flagged, with `borderline: flag`), and a hit in
a record whose instruction asks for fiction (a story, a film's plot) is flagged, not dropped. Every hit
reported (drop detail, flag detail, step counts in report.json) shows the matched span in context.

Second opinions, both off by default: `classifier` (`module:function`, list of texts -> a score or
{category: score} per text) adds hits of its own; `judge` asks an OpenAI-compatible endpoint
(safety_judge.py) about the flagged and borderline records, with a fixed prompt and a disk cache.
"""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Literal

from pydantic import Field, field_validator

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.lexicon import shipped_categories
from tunesmith.prepare.steps.safety_judge import JudgeOptions, SafetyJudge
from tunesmith.prepare.steps.safety_patterns import Detector, Hit, RuleFiles, Rules, context_of
from tunesmith.errors import ConfigError

SAFETY_CATEGORIES = ("discrimination", "abuse", "violence", "sexual", "illegal")
_NOT_CATEGORIES = ("allow", "context")


class SafetyOptions(StepOptions):
    categories: list[str] = Field(default_factory=lambda: list(SAFETY_CATEGORIES), description=(
        "Shipped categories to use: discrimination, abuse, violence, sexual, illegal."))
    lexicons: dict[str, list[str]] = Field(default_factory=dict, description=(
        "Your own term files per category (a term is harmful by itself), e.g. {brand: [competitors.txt]}."))
    patterns: dict[str, list[str]] = Field(default_factory=dict, description=(
        "Your own pattern files per category: `family: regex` lines with {@anchor} and {slot}s."))
    slots: dict[str, list[str]] = Field(default_factory=dict, description=(
        "Extra phrase files per slot used by patterns, e.g. {target_zh: [names.txt]}."))
    contexts: list[str] = Field(default_factory=list, description=(
        "Extra context files (`family: regex` with {HIT}) whose matches clear a hit."))
    allow: list[str] = Field(default_factory=list, description=(
        "Extra allow-list files: hits inside these phrases are ignored (the shipped allow list always applies)."))
    action: Literal["drop", "flag"] = Field("drop", description="drop the record, or flag it (kept, marked for review).")
    actions: dict[str, Literal["drop", "flag"]] = Field(default_factory=dict, description=(
        "Per-category action overriding `action`, e.g. {abuse: flag}."))
    borderline: Literal["keep", "flag"] = Field("keep", description=(
        "Hits a context cleared (history, negation, quoting to condemn…): keep silently, or flag for review."))
    fiction_frame: Literal["flag", "drop"] = Field("flag", description=(
        "When the instruction asks for or about fiction (a story, a novel, a film's plot), hits in the record are "
        "flagged for review instead of dropped (flag), or treated like any other (drop)."))
    min_hits: int = Field(1, ge=1, description="Hits (in one category) needed before the action applies.")
    classifier: str | None = Field(None, description=(
        "Optional `module:function` taking list[str] and returning a score (or {category: score}) per text."))
    classifier_threshold: float = Field(0.5, ge=0, le=1, description="Classifier scores at or above this count as a hit.")
    judge: JudgeOptions | None = Field(None, description=(
        "A second opinion from an OpenAI-compatible endpoint on flagged and borderline records (off by default)."))
    report_examples: int = Field(20, ge=0, description="Hits per category shown with their context in the step's counts.")

    @field_validator("categories")
    @classmethod
    def _known(cls, v):
        known = [c for c in shipped_categories("safety") if c not in _NOT_CATEGORIES]
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


@register
class SafetyStep(Step):
    """Drop or flag text that threatens, insults, demeans a group, sexualises minors or teaches crime."""

    name = "safety"
    Options = SafetyOptions

    def __init__(self, options: SafetyOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        files = RuleFiles.shipped(o.categories).extend(
            RuleFiles(terms=o.lexicons, patterns=o.patterns, slots=o.slots, contexts=o.contexts, allow=o.allow))
        self.detector = Detector(Rules(files))
        self.classifier = load_classifier(o.classifier) if o.classifier else None
        self.judge = SafetyJudge(o.judge) if o.judge is not None else None
        self._fields = tuple(o.fields)
        self._shown: Counter = Counter()

    def hits(self, text: str) -> list[Hit]:
        """Every hit in `text`, cleared ones included (`cleared_by` says by which context)."""
        return self.detector.find(text)

    def apply(self, example: Example) -> Example | Drop:
        return self._decide(example, self._record_hits(example))

    def apply_batch(self, examples: list[Example]) -> list[Example | Drop]:
        if self.classifier is None and self.judge is None:
            return [self.apply(e) for e in examples]
        found = [self._record_hits(e) for e in examples]
        if self.classifier is not None:
            texts = ["\n".join(read_texts(e, self._fields)) for e in examples]
            scores = self.classifier(texts)
            if len(scores) != len(texts):
                raise ValueError(f"classifier returned {len(scores)} scores for {len(texts)} texts")
            threshold = self.options.classifier_threshold
            for hits, text, score in zip(found, texts, scores):
                items = score.items() if isinstance(score, dict) else [("classifier", score)]
                hits += [Hit(cat, "classifier", 0, 0, f"score {float(s):.2f}", context_of(text, 0, 0)[:80])
                         for cat, s in items if float(s) >= threshold]
        if self.judge is None:
            return [self._decide(e, h) for e, h in zip(examples, found)]
        asked = [i for i, h in enumerate(found) if h and self._needs_judge(h)]
        verdicts = self.judge.judge_many(["\n".join(read_texts(examples[i], self._fields)) for i in asked])
        by_index = dict(zip(asked, verdicts))
        return [self._decide(e, h, by_index.get(i)) for i, (e, h) in enumerate(zip(examples, found))]

    def _record_hits(self, example: Example) -> list[Hit]:
        return [h for text in read_texts(example, self._fields) for h in self.detector.find(text)]

    def _action(self, category: str) -> str:
        return self.options.actions.get(category, self.options.action)

    def _needs_judge(self, hits: list[Hit]) -> bool:
        """Borderline (a context cleared it) or flagged records always; dropped ones if the judge may overrule."""
        live = [h for h in hits if h.cleared_by is None]
        if not live or any(self._action(h.category) == "flag" for h in live):
            return True
        return self.judge.options.overrule

    def _decide(self, example: Example, hits: list[Hit], verdict=None) -> Example | Drop:
        if not hits:
            return example
        stats = self.stats.counts
        live = [h for h in hits if h.cleared_by is None]
        by_category = Counter(h.category for h in live)
        categories = sorted(c for c, n in by_category.items() if n >= self.options.min_hits)
        for h in hits:
            stats[f"{h.category}/{h.family}" if h.cleared_by is None else f"cleared/{h.cleared_by}"] += 1
            self._show(h)
        if verdict is not None:
            stats[f"judge:{verdict.label}"] += 1
            if verdict.label == "unclear":
                self.flag(example, "judge_unclear", verdict.note)
            if verdict.label == "harmful" and not categories:
                categories = [verdict.category or hits[0].category]   # the judge raises recall
                live = hits
            elif verdict.label == "safe" and categories:
                return self.flag(example, "judge_cleared", f"{verdict.note}; rules: {_describe(live)}")
        if not categories:
            if self.options.borderline == "flag":
                return self.flag(example, "borderline", _describe(hits))
            return example
        for c in categories:
            stats[c] += 1
        shown = [h for h in live if h.category in categories] or live
        detail = _describe(shown) + (f"; judge: {verdict.note}" if verdict is not None else "")
        dropping = [c for c in categories if self._action(c) == "drop"]
        judged = verdict is not None and verdict.label == "harmful"   # the judge read the story too
        if dropping and not judged and self.options.fiction_frame == "flag" and self._asks_for_fiction(example):
            stats["fiction_frame"] += 1
            dropping, detail = [], f"{detail}; the instruction asks for fiction"
        if dropping:
            return Drop(dropping[0], detail)
        example.meta["safety"] = {"categories": categories, "terms": sorted({h.span for h in shown})[:10],
                                  "hits": [h.describe() for h in shown[:10]]}
        self.stats.changed += 1
        return self.flag(example, categories[0], detail)

    def _asks_for_fiction(self, example: Example) -> bool:
        """Literature is not harm: a story or a film's plot may tell of a threat or an assault."""
        regex = self.detector.rules.fiction_request
        return any(regex.search(t) for t in read_texts(example, ("instruction",)))

    def _show(self, hit: Hit) -> None:
        """The first hits of each category, with their context, in the step's counts (so in report.json)."""
        key = hit.cleared_by and "cleared" or hit.category
        if self._shown[key] < self.options.report_examples:
            self._shown[key] += 1
            self.stats.counts[f"e.g. {hit.describe()}"] += 1


def _describe(hits: list[Hit]) -> str:
    return "; ".join(h.describe() for h in hits[:3]) + (f"; +{len(hits) - 3} more" if len(hits) > 3 else "")
