"""Synthetic corpora with planted duplicates, for the dedup tests and `benchmarks/dedup.py`.

`planted(n, ...)` returns texts and a group id per text: texts that share a group are copies of one
original (exact, re-formatted, edited or, for Chinese, re-written in traditional characters);
unrelated originals are random enough never to reach a Jaccard of 0.3 with one another.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"}


def _s2t() -> dict[str, str]:
    from tunesmith.dedup.normalize import t2s_table

    out: dict[str, str] = {}
    for trad, simp in t2s_table().items():
        out.setdefault(simp, chr(trad))
    return out


@dataclass
class Corpus:
    texts: list[str]
    groups: list[int]          # same group = planted duplicates of one original
    kinds: list[str]           # "original", "exact", "format", "script", "edit"


class Planter:
    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.vocab = sorted({"".join(self.rng.choices(_SYLLABLES, k=self.rng.randint(1, 3))) for _ in range(8000)})
        s2t = _s2t()
        self.s2t = s2t
        # Simplified characters, half of them with a traditional form, so script twins differ.
        with_trad = sorted(s2t)[:1500]
        plain = [chr(c) for c in range(0x4E00, 0x9FA5) if chr(c) not in s2t][:1500]
        self.hanzi = with_trad + plain

    def latin(self, chars: int = 200) -> str:
        words, size = [], 0
        while size < chars:
            w = self.rng.choice(self.vocab)
            words.append(w)
            size += len(w) + 1
        text = " ".join(words)
        return text[0].upper() + text[1:] + "."

    def chinese(self, chars: int = 80) -> str:
        body = "".join(self.rng.choices(self.hanzi, k=chars))
        return "，".join(body[i:i + 16] for i in range(0, chars, 16)) + "。"

    def reformat(self, text: str) -> str:
        """Same text, different form: spacing, punctuation, case, full-width letters."""
        r = self.rng
        out = text.replace(" ", "  ") if r.random() < 0.5 else text.replace(" ", " \n ", 2)
        out = out.rstrip("。.") + r.choice(["!", "?!", "...", "。", ""])
        out = out.replace("，", ", ") if "，" in out and r.random() < 0.5 else out
        if r.random() < 0.5:
            out = out.upper() if r.random() < 0.5 else "".join(_FULLWIDTH.get(c, c) for c in out)
        return out

    def traditional(self, text: str) -> str:
        return "".join(self.s2t.get(c, c) for c in text)

    def edit(self, text: str, edits: int = 1) -> str:
        """`edits` character substitutions, insertions or deletions, kept apart from each other."""
        chars = list(text)
        spots = sorted(self.rng.sample(range(2, len(chars) - 2), edits), reverse=True)
        for i in spots:
            op = self.rng.random()
            ch = self.rng.choice(self.hanzi) if "\u4e00" <= chars[i] <= "\u9fff" else self.rng.choice("abcdefghijklmnopqrstuvwxyz")
            if op < 0.5:
                chars[i] = ch
            elif op < 0.75:
                chars.insert(i, ch)
            else:
                del chars[i]
        return "".join(chars)

    def planted(self, n: int, dup_rate: float = 0.3, chinese: float = 0.5, chars: int = 200,
                kinds: tuple[str, ...] = ("exact", "format", "script", "edit"), edits: int = 1,
                shuffle: bool = True) -> Corpus:
        texts, groups, labels = [], [], []
        originals: list[tuple[int, str, bool]] = []
        while len(texts) < n:
            if originals and self.rng.random() < dup_rate:
                group, source, zh = self.rng.choice(originals)
                kind = self.rng.choice([k for k in kinds if k != "script" or zh])
                text = {"exact": lambda: source, "format": lambda: self.reformat(source),
                        "script": lambda: self.traditional(source),
                        "edit": lambda: self.edit(source, edits)}[kind]()
            else:
                zh = self.rng.random() < chinese
                text = self.chinese(max(20, chars * 2 // 5)) if zh else self.latin(chars)
                group, kind = len(originals), "original"
                originals.append((group, text, zh))
            texts.append(text)
            groups.append(group)
            labels.append(kind)
        if shuffle:
            order = list(range(n))
            self.rng.shuffle(order)
            texts, groups, labels = [texts[i] for i in order], [groups[i] for i in order], [labels[i] for i in order]
        return Corpus(texts, groups, labels)


def pair_scores(clusters, groups) -> tuple[float, float]:
    """(precision, recall) over pairs: a predicted pair is right when both share a planted group."""
    from collections import Counter

    truth_pairs = sum(c * (c - 1) // 2 for c in Counter(groups).values())
    found = right = 0
    for cluster in clusters:
        members = [int(i) for i in cluster]
        found += len(members) * (len(members) - 1) // 2
        right += sum(c * (c - 1) // 2 for c in Counter(groups[i] for i in members).values())
    precision = right / found if found else 1.0
    recall = right / truth_pairs if truth_pairs else 1.0
    return precision, recall
