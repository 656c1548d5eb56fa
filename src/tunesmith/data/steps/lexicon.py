"""Phrase lists matched fast and correctly in Chinese and English text.

One Aho-Corasick automaton (ahocorasick-rs, a Rust one: 3-4x pyahocorasick's speed on our records)
finds every listed phrase in one pass over the text, which is how unsegmented Chinese must be matched
(no word splitting to get wrong). A phrase that begins or ends with a Latin letter or digit only
matches on a word boundary there, so "ass" never matches inside "class", while "杀了他" matches anywhere.
A trailing `*` in a lexicon makes a Latin phrase a prefix (`kill*` matches kills, killed, killing).

Lexicon files: UTF-8, one phrase per line, `#` starts a comment, matching ignores case. The shipped
files live in `tunesmith/resources/lexicons/<group>/<category>.txt`; users add files of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from tunesmith.errors import ConfigError


def _is_word_char(c: str) -> bool:
    """Latin-script letters and digits: the characters a word boundary separates."""
    return c.isalnum() and ord(c) < 0x250


@dataclass(frozen=True)
class Match:
    start: int
    end: int           # exclusive
    phrase: str
    category: str


class PhraseMatcher:
    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        """`entries`: (phrase, category) pairs; a phrase may belong to several categories."""
        import ahocorasick_rs

        table: dict[str, list] = {}
        for phrase, category in entries:
            prefix = phrase.endswith("*")
            key = phrase.rstrip("*").strip().lower()
            if not key:
                continue
            check_start = _is_word_char(key[0])
            check_end = _is_word_char(key[-1]) and not prefix
            table.setdefault(key, []).append((category, check_start, check_end))
        self.size = len(table)
        self._keys = list(table)
        self._values = [tuple(v) for v in table.values()]
        # A DFA is the fastest automaton and grows with the lexicon: past ~20k phrases let the library choose.
        dfa = ahocorasick_rs.Implementation.DFA if len(table) <= 20_000 else None
        self._automaton = ahocorasick_rs.AhoCorasick(self._keys, implementation=dfa) if table else None

    def find(self, text: str) -> list[Match]:
        if not self.size or not text:
            return []
        low = text.lower()
        if len(low) != len(text):  # a few characters lower-case to two; positions must stay the text's
            low = "".join(c.lower()[0] for c in text)
        n = len(low)
        found = []
        for i, start, end in self._automaton.find_matches_as_indexes(low, overlapping=True):
            for category, check_start, check_end in self._values[i]:
                if check_start and start > 0 and _is_word_char(low[start - 1]):
                    continue
                if check_end and end < n and _is_word_char(low[end]):
                    continue
                found.append(Match(start, end, self._keys[i], category))
        return found


def read_lexicon(path: str | Path) -> list[str]:
    """Phrases of one lexicon file (comments and blank lines skipped)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"lexicon file not found: {p}", "give a UTF-8 file with one phrase per line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text", "save the lexicon as UTF-8") from None
    out = []
    for line in text.splitlines():
        phrase = line.split("#", 1)[0].strip() if not line.lstrip().startswith("\\#") else line.strip()[1:]
        if phrase:
            out.append(phrase)
    return out


def shipped_dir(group: str) -> Path:
    return Path(str(resources.files("tunesmith") / "resources" / "lexicons" / group))


def shipped_categories(group: str) -> list[str]:
    return sorted(p.stem for p in shipped_dir(group).glob("*.txt"))


def shipped(group: str, category: str) -> list[str]:
    path = shipped_dir(group) / f"{category}.txt"
    if not path.is_file():
        raise ConfigError(f"no shipped {group} lexicon '{category}'",
                          f"shipped categories: {', '.join(shipped_categories(group))}")
    return read_lexicon(path)
