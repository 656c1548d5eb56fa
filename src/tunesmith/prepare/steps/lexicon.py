"""Phrase lists matched fast and correctly in Chinese and English text.

One Aho-Corasick automaton (ahocorasick-rs, a Rust one: 3-4x pyahocorasick's speed on our records)
finds every listed phrase in one pass over the text, which is how unsegmented Chinese must be matched
(no word splitting to get wrong). A phrase that begins or ends with a Latin letter or digit only
matches on a word boundary there, so "ass" never matches inside "class", while "杀了他" matches anywhere.
A trailing `*` in a lexicon makes a Latin phrase a prefix (`kill*` matches kills, killed, killing).

Chinese has no spaces, so a phrase found inside a longer word is not that word: 幼女 inside 年幼女儿
(年幼 / 女儿). `TermBoundaries` segments a sentence with jieba, the lexicon's own terms added to its
dictionary, and tells whether a match starts and ends on word boundaries. It is the second look, run
only on the few sentences where the automaton found something.

Lexicon files: UTF-8, one phrase per line, `#` starts a comment, matching ignores case. The shipped
files live in `tunesmith/resources/lexicons/<group>/<category>.txt`; users add files of their own.
"""

from __future__ import annotations

import bisect
import re
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


_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


class TermBoundaries:
    """Is text[start:end] a whole word (or run of whole words) of `text`? jieba decides for Chinese.

    The terms given are added to jieba's dictionary (a private `jieba.Tokenizer`, so no other user of
    jieba sees them) with the frequency jieba itself suggests for keeping a term whole: enough to
    find 打残 in 把他打残, not enough to beat 年幼 + 女儿. HMM is off: it guesses new words from
    characters, and a guessed word could swallow a term's edge. The dictionary loads on first use
    (about a second), so a run whose texts never need it never pays.
    """

    def __init__(self, terms: Iterable[str]) -> None:
        self._terms = sorted({t.rstrip("*").strip() for t in terms if has_cjk(t)})
        self._tokenizer = None

    def _load(self):
        if self._tokenizer is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            for term in self._terms:
                tokenizer.add_word(term)
            self._tokenizer = tokenizer
        return self._tokenizer

    def cuts(self, text: str) -> list[int]:
        """Offsets in `text` where one word ends and the next begins (0 and len(text) included), sorted.

        jieba's own dictionary segmentation without HMM (`cut(text, HMM=False)`): the most probable route
        through the DAG of dictionary words, called directly on the short windows this class is given
        (the public `get_DAG` and `calc`), which spares `cut`'s block splitting and generators. Runs of
        Latin letters come out one character a word; only boundaries next to Chinese are ever asked for.
        """
        tokenizer = self._load()
        route: dict = {}
        tokenizer.calc(text, tokenizer.get_DAG(text), route)
        out, i = [0], 0
        while i < len(text):
            i = route[i][1] + 1
            out.append(i)
        return out

    def whole(self, text: str, start: int, end: int, cuts: list[int] | None = None) -> bool:
        """Does text[start:end] begin a word and end one, where it touches other Chinese characters?

        A term of two or more characters may also be the head of a longer word (色情 in 色情片, 强奸
        in 强奸犯): the dictionary knows the compound, and it still means the term. A one-character
        term must be a word by itself (杀 is not in 杀毒).
        """
        if cuts is None:
            cuts = self.cuts(text)
        left_open = start > 0 and has_cjk(text[start - 1]) and has_cjk(text[start])
        right_open = end < len(text) and has_cjk(text[end]) and has_cjk(text[end - 1])
        i = bisect.bisect_left(cuts, start)
        starts_word = i < len(cuts) and cuts[i] == start
        if left_open and not starts_word:
            return False
        if not right_open:
            return True
        j = bisect.bisect_left(cuts, end)
        if j < len(cuts) and cuts[j] == end:
            return True
        return end - start >= 2 and starts_word and cuts[i + 1] > end  # the head of one longer word


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
