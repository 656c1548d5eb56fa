"""Traditional -> simplified Chinese for `clean` (OpenCC t2s), and where it must not apply.

OpenCC's t2s would also turn Japanese kanji into simplified Chinese ("米津玄師" -> "米津玄师", "東京は"
-> "东京は") and undo a task whose answer is traditional Chinese. So:
- a record that asks for or talks about traditional characters (`is_the_task`) is left alone;
- a sentence with kana in it is Japanese and is left alone;
- an original-script name in brackets after its romanisation ("Kenshi Yonezu (米津玄師)") is left alone.

The pure-Python OpenCC costs ~0.4 ms for a short text. A text can only change if it holds a character
of the t2s dictionaries (a traditional character, or one a phrase rewrites); `may_change` tests that
with one set lookup, so the converter runs on the few texts that have one.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

_TRADITIONAL = re.compile(r"繁体|繁體|繁中|简繁|繁简|簡繁|正體|正体字|港澳台|traditional (?:chinese|characters|script|form)",
                          re.IGNORECASE)
_KANA = re.compile(r"[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_JAPANESE_SENTENCE = re.compile(r"[^。！？!?\n]*[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f][^。！？!?\n]*")
_NAME = re.compile(r"[A-Z][a-z]+ ?[(（]([\u3400-\u4dbf\u4e00-\u9fff]+)[)）]")


@functools.lru_cache(maxsize=1)
def _changing_characters() -> frozenset[str]:
    """Every character the t2s dictionaries could rewrite (a key of a character entry, or a character a
    phrase entry changes): a text without any of them comes out of t2s unchanged."""
    import opencc

    folder = Path(opencc.__file__).parent / "dictionary"
    chars: set[str] = set()
    for line in (folder / "TSCharacters.txt").read_text(encoding="utf-8").splitlines():
        chars.update(line.split("\t", 1)[0])
    for line in (folder / "TSPhrases.txt").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("\t")
        value = value.split(" ", 1)[0]
        chars.update(key if len(key) != len(value) else (a for a, b in zip(key, value) if a != b))
    return frozenset(chars)


class Simplifier:
    def __init__(self) -> None:
        from opencc import OpenCC

        self._cc = OpenCC("t2s")
        self._changing = _changing_characters()

    def may_change(self, text: str) -> bool:
        return not text.isascii() and not self._changing.isdisjoint(text)

    @staticmethod
    def is_the_task(text: str) -> bool:
        """Does `text` ask for or talk about traditional characters (then they are content)?"""
        return _TRADITIONAL.search(text) is not None

    def convert(self, text: str) -> str:
        """`text` in simplified characters, Japanese sentences and original-script names as written."""
        if not self.may_change(text):
            return text
        keep = [m.span() for m in _JAPANESE_SENTENCE.finditer(text)] if _KANA.search(text) else []
        keep += [m.span(1) for m in _NAME.finditer(text)]
        if not keep:
            return self._cc.convert(text)
        out, last = [], 0
        for start, end in sorted(keep):
            if start > last:
                out.append(self._cc.convert(text[last:start]))
            if end > last:
                out.append(text[max(start, last):end])
                last = end
        out.append(self._cc.convert(text[last:]))
        return "".join(out)
