"""Text normalisation shared by every dedup method: twins that differ only in form get one key.

Folded: compatibility forms (full-width ＡＢＣ１２３ → ABC123, via NFKC), case, traditional →
simplified Chinese, punctuation and symbols, and whitespace (runs collapse to one space; spaces next
to a CJK character vanish, since Chinese puts none between words).

Traditional → simplified uses OpenCC's own character table (the `opencc` package's TSCharacters
dictionary). OpenCC's converter itself costs ~1.8 ms per 200 characters in pure Python (1,000x
the rest of this module); the phrase table it adds (軟體 → 软件: vocabulary, not script) does not
change whether two records are the same text.

A batch is normalised as one joined string (records separated by a private-use character): NFKC
and casefold run once in C, then the code points go through one lookup table (simplified form, or a
space for punctuation/symbols/controls) and a vectorised whitespace fold in numpy. That is ~10x
faster than `str.translate` plus regular expressions, and the code points are what the near-duplicate
shingler hashes anyway.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from pathlib import Path

import numpy as np

# Separates records inside a joined batch: private-use, so NFKC and casefold leave it alone.
SEP = "\ue000"
SEP_CP = ord(SEP)
SPACE = 32


@functools.lru_cache(maxsize=1)
def t2s_table() -> dict[int, str]:
    """Traditional → simplified, one character to one character, from OpenCC's dictionary file."""
    import opencc

    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    table: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        trad, _, simp = line.partition("\t")
        simp = simp.split(" ")[0] if simp else ""
        if len(trad) == 1 and len(simp) == 1:
            table[ord(trad)] = simp
    return table


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lut, is_cjk, needs_nfkc) over every code point.

    lut folds one code point to one: NFKC where that gives one character (full-width ＡＢＣ,
    half-width katakana, compatibility ideographs), then punctuation/symbols/controls → space, lower
    case (one-to-one `str.lower`; `casefold` costs 20 ns a character and only adds ß → ss and the
    like), then traditional → simplified. `needs_nfkc` marks code points whose NFKC form is not one
    character (ligatures, ①, combining marks that compose): records holding one are normalised by
    `unicodedata` first. NFKC over a whole batch costs ~30 ns a character on Chinese text (its
    full-width punctuation fails the quick check), about as much as everything else together.
    """
    size = sys.maxunicode + 1
    lut = np.arange(size, dtype=np.uint32)
    needs = np.zeros(size, dtype=bool)
    t2s = t2s_table()
    for cp in range(size):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat in ("Cn", "Co", "Cs"):
            if cat != "Cn":
                lut[cp] = SPACE
            continue
        if cat[0] == "M":
            needs[cp] = True
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) != 1:
            needs[cp] = True
            continue
        cat = unicodedata.category(folded)
        # P* punctuation, S* symbols, Z* separators, Cc/Cf controls and the like -> space.
        if cat[0] in "PSZ" or cat in ("Cc", "Cf"):
            lut[cp] = SPACE
            continue
        low = folded.lower()
        folded = low if len(low) == 1 else folded
        lut[cp] = ord(t2s.get(ord(folded), folded))
    lut[SEP_CP] = SEP_CP
    needs[SEP_CP] = False
    is_cjk = np.zeros(size, dtype=bool)
    for lo, hi in CJK_RANGES:
        is_cjk[lo:hi + 1] = True
    return lut, is_cjk, needs


# Scripts written without spaces between words: Han, kana. (Hangul uses spaces: words.)
CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
_CJK_MIN = 0x3040


def cjk_mask(cps: np.ndarray) -> np.ndarray:
    """Whether each code point is CJK; only code points >= U+3040 pay for the table lookup."""
    out = cps >= _CJK_MIN
    if out.any():
        out[out] = _tables()[1][cps[out]]
    return out


def normalize_codepoints(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The normalised batch as uint32 code points, and `bounds` (len(texts)+1): record i is
    cps[bounds[i]:bounds[i+1]] (the separators between records are not part of any record)."""
    texts = [t.replace(SEP, " ") if SEP in t else t for t in texts]
    lut, _, needs = _tables()
    raw = np.frombuffer(SEP.join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    odd = np.flatnonzero(needs[raw])
    if odd.size:  # the few records the table cannot fold alone: full NFKC first
        seps = np.flatnonzero(raw == SEP_CP)
        for i in np.unique(np.searchsorted(seps, odd)).tolist():
            texts[i] = unicodedata.normalize("NFKC", texts[i])
        raw = np.frombuffer(SEP.join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cps = lut[raw]
    # Runs of spaces -> their first space.
    space = cps == SPACE
    drop = space.copy()
    drop[1:] &= space[:-1]
    cps = cps[~drop]
    # A space survives only between two "solid" characters: not space, not separator, not CJK,
    # so spaces at the ends of a record and next to Chinese characters go.
    space = cps == SPACE
    solid = ~space & (cps != SEP_CP) & ~cjk_mask(cps)
    keep = ~space
    keep[1:-1] |= solid[:-2] & solid[2:]
    cps = cps[keep]
    seps = np.flatnonzero(cps == SEP_CP)
    bounds = np.empty(len(texts) + 1, dtype=np.int64)
    bounds[0] = 0
    bounds[1:-1] = seps
    bounds[-1] = cps.size
    starts = bounds.copy()
    starts[1:-1] += 1                       # record i>0 starts after its separator
    return cps, np.stack([starts[:-1], bounds[1:]], axis=1)


def normalize_batch(texts: list[str]) -> list[str]:
    """Normalised form of each text (see the module doc); same length and order as `texts`."""
    if not texts:
        return []
    cps, _ = normalize_codepoints(texts)
    return cps.tobytes().decode("utf-32-le").split(SEP)


def normalize(text: str) -> str:
    return normalize_batch([text])[0]
