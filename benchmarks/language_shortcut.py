"""Is the `language` step's English shortcut safe? (three ENGLISH_MARKERS decide English without fastText)

    pip install spacy   # its language data only: no model download
    python benchmarks/language_shortcut.py

Prints, from data that ships with spaCy and Python:
  1. markers that are a stop word of another language spaCy ships (must be none),
  2. spaCy's example sentences of every other language on which the shortcut fires (must be none),
  3. on ~200-character chunks of the standard library's English docstrings: how often the shortcut
     answers, how often fastText agrees there, and what fastText said where it did not,
  4. the time per Latin-script text with and without the shortcut.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
import warnings

from tunesmith.prepare.steps.language import _LATIN_WORD, ENGLISH_MARKERS, LanguageDetector

MODULES = ["collections", "json", "argparse", "pathlib", "subprocess", "logging", "email", "http.client", "asyncio",
           "unittest", "typing", "functools", "itertools", "random", "statistics", "decimal", "fractions", "datetime",
           "calendar", "zipfile", "tarfile", "shutil", "tempfile", "csv", "sqlite3", "threading", "multiprocessing",
           "socket", "ssl", "urllib.request", "xml.etree.ElementTree", "textwrap", "difflib", "inspect", "dataclasses",
           "enum", "contextlib", "abc", "heapq", "bisect"]


def spacy_data():
    """({language: stop words}, {language: example sentences}) for every language spaCy ships but English."""
    import spacy.lang

    stops, examples = {}, {}
    for m in pkgutil.iter_modules(spacy.lang.__path__):
        if m.name in ("en", "xx"):
            continue
        for attr, out, sub in (("STOP_WORDS", stops, "stop_words"), ("sentences", examples, "examples")):
            try:
                out[m.name] = getattr(importlib.import_module(f"spacy.lang.{m.name}.{sub}"), attr)
            except (ImportError, AttributeError):
                pass
    return stops, examples


def english_chunks(size: int = 200) -> list[str]:
    chunks = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in MODULES:
            module = importlib.import_module(name)
            for obj in [module] + [getattr(module, a) for a in dir(module)]:
                doc = getattr(obj, "__doc__", None)
                if isinstance(doc, str):
                    doc = " ".join(doc.split())
                    chunks.update(doc[i:i + size] for i in range(0, len(doc) - size // 2, size))
    return sorted(chunks)


def words_of(text: str) -> list[str]:
    return [w for w in _LATIN_WORD.findall(text) if not w.isupper()]


def fires(words: list[str]) -> bool:
    return len(ENGLISH_MARKERS.intersection(" ".join(words).lower().split())) >= 3


def main() -> int:
    detector = LanguageDetector()
    stops, examples = spacy_data()
    clash = {w: sorted(lang for lang, s in stops.items() if w in {x.lower() for x in s}) for w in ENGLISH_MARKERS}
    clash = {w: langs for w, langs in clash.items() if langs}
    print(f"1. {len(ENGLISH_MARKERS)} markers; stop words of another of {len(stops)} languages: {clash or 'none'}")
    wrong = [(lang, s) for lang, sents in examples.items() for s in sents if fires(words_of(s))]
    total = sum(map(len, examples.values()))
    print(f"2. spaCy example sentences of {len(examples)} other languages: shortcut fires on {len(wrong)} of {total}"
          + (f": {wrong[:5]}" if wrong else ""))
    chunks = [c for c in english_chunks() if words_of(c)]
    decided = [c for c in chunks if fires(words_of(c))]
    said = [detector.latin(" ".join(words_of(c))) for c in decided]
    agree = sum(lang == "en" and score >= detector.min_score for lang, score in said)
    print(f"3. English docstring chunks: shortcut answers {len(decided)} of {len(chunks)} "
          f"({len(decided) / len(chunks):.0%}); fastText agrees (en, score >= {detector.min_score}) on {agree} "
          f"({agree / len(decided):.1%})")
    others = sorted((round(score, 2), lang) for lang, score in said
                    if not (lang == "en" and score >= detector.min_score))
    print(f"   fastText on the others: {others[:12]}{' ...' if len(others) > 12 else ''}")
    joined = [words_of(c) for c in chunks]
    variants = (("fastText only", lambda w: detector.latin(" ".join(w))), ("with shortcut", detector.latin_words))
    for label, fn in variants:
        best = float("inf")
        for _ in range(5):
            t = time.process_time()
            for w in joined:
                fn(w)
            best = min(best, time.process_time() - t)
        print(f"4. {label:<14} {best / len(joined) * 1e6:6.1f} us per text (best of 5)")
    return 1 if clash or wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
