"""Token counts of plain text for byte-level BPE tokenizers (GPT-2, SmolLM), without running the tokenizer.

The contract: `count(split(text))` is `len(encode_plain(tokenizer, text))` for every text `split` accepts,
and `split` returns None for a text it cannot vouch for (the caller then asks the tokenizer itself).

Why it is exact: such a tokenizer (no normalizer, the GPT-2 `ByteLevel` pre-tokenizer, a BPE model
without dropout, no non-special added tokens) cuts text into words with one regular expression and
encodes every word on its own. Words repeat (" the", "\\n\\n", "。"), so each word is encoded once, by the
tokenizer's own BPE model, and its count is remembered. What this module does itself is only the word
split, with the `regex` module, which is 5-6x faster than the tokenizer's Oniguruma split. The two
engines can disagree about a character's Unicode class where their Unicode versions differ (characters
assigned after Unicode 14); so every character is checked once, the first time it is seen, by splitting
it in contexts that reveal its class (letter, number, space, other) with both engines, and a text that
holds a character on which they disagree is left to the tokenizer.

Why it is fast: the tokenizer's `encode_batch` spends most of its time pre-tokenizing and building
`Encoding` objects (offsets, token strings); here a record costs one C regex scan and a dict lookup
per word.
"""

from __future__ import annotations

import json
import re

import regex

# tokenizers' ByteLevel pre-tokenizer (use_regex=True): the GPT-2 split ('s|'t|'re|'ve|'m|'ll|'d factored).
GPT2_SPLIT = r"""'(?:[stmd]|re|ve|ll)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# The same on ASCII text, for the standard library's `re` (twice as fast): its classes spelled out.
_WS = r"\t\n\x0b\x0c\r "
GPT2_SPLIT_ASCII = rf"""'(?:[stmd]|re|ve|ll)| ?[A-Za-z]+| ?[0-9]+| ?[^{_WS}A-Za-z0-9]+|[{_WS}]+(?![^{_WS}])|[{_WS}]+"""
# Contexts in which a character's class decides the split: x·x (letter?), 1·1 (number?), ··x (space?).
_PROBES = ("x{0}x", "1{0}1", "{0}{0}x")


def _ranges(chars) -> list[str]:
    """A regex character class body for `chars`, as escaped ranges."""
    out, codes = [], sorted(map(ord, chars))
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        out.append(f"\\U{codes[i]:08x}" if i == j else f"\\U{codes[i]:08x}-\\U{codes[j]:08x}")
        i = j + 1
    return out


def _byte_chars() -> list[str]:
    """GPT-2's bytes_to_unicode: the printable character each byte is written as inside the vocabulary."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


_BYTE_CHARS = _byte_chars()
_SPLIT = regex.compile(GPT2_SPLIT)
_SPLIT_ASCII = re.compile(GPT2_SPLIT_ASCII)
_MATCH = _SPLIT.match


class ByteLevelCounter:
    """Counts tokens of a GPT-2-style byte-level BPE tokenizer word by word (see the module docstring)."""

    def __init__(self, backend) -> None:
        self._model = backend.model
        self._pre = backend.pre_tokenizer
        self._split, self._split_ascii = _SPLIT.findall, _SPLIT_ASCII.findall
        self._counts: dict[str, int] = {}
        self._checked: set[str] = set()   # non-ASCII characters both engines split alike
        self._unsafe: set[str] = set()    # characters they split differently
        self._unsafe_in = None            # search for any of them
        self._unknown = re.compile(r"[^\x00-\x7f]")  # finds the characters in neither set
        ascii_probes = "".join(p.format(chr(c)) for c in range(128) for p in _PROBES)
        if not (self._agree(ascii_probes) and self._split_ascii(ascii_probes) == self._split(ascii_probes)):
            raise ValueError("the pre-tokenizer does not split ASCII as GPT-2 does")

    @classmethod
    def for_tokenizer(cls, tokenizer) -> "ByteLevelCounter | None":
        """A counter when `tokenizer` is byte-level BPE with the plain GPT-2 pipeline, else None."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None or backend.normalizer is not None:
            return None
        try:
            pre = json.loads(backend.pre_tokenizer.__getstate__()) if backend.pre_tokenizer else None
        except (AttributeError, TypeError, ValueError):
            return None
        keys = {"type", "add_prefix_space", "trim_offsets", "use_regex"}
        if (not pre or pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") is not False
                or pre.get("use_regex") is not True or set(pre) - keys):
            return None
        model = backend.model  # (its __getstate__ would serialise the whole vocabulary)
        if type(model).__name__ != "BPE" or model.dropout or getattr(model, "byte_fallback", False):
            return None
        # Non-special added tokens are cut out of plain text too (split_special_tokens only keeps special
        # ones as text): a word split cannot see them.
        decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        if any(not t.special for t in decoder.values()):
            return None
        try:
            return cls(backend)
        except ValueError:
            return None

    def learn(self, texts) -> None:
        """Check, in one go, the characters of `texts` not seen before: `split` needs it done."""
        new: set[str] = set()
        unknown = self._unknown.findall
        for text in texts:
            if not text.isascii():
                new.update(unknown(text))
        new.difference_update(self._unsafe)
        if new:
            self._check_chars(new)

    def split(self, text: str) -> list[str] | None:
        """The words of `text` (whose characters `learn` has seen), or None when it holds a character the
        two split engines disagree on."""
        if text.isascii():
            return self._split_ascii(text)
        if self._unsafe_in is not None and self._unsafe_in(text):
            return None
        return self._split(text)

    def length(self, text: str) -> int | None:
        self.learn((text,))
        words = self.split(text)
        return None if words is None else self.count(words)

    def count(self, words: list[str]) -> int:
        counts = self._counts
        found = list(map(counts.get, words))
        if None in found:  # words not seen before: the tokenizer's own BPE model encodes each once
            tokenize = self._model.tokenize
            for i, n in enumerate(found):
                if n is None:
                    word = words[i]
                    n = counts.get(word)
                    if n is None:
                        n = counts[word] = len(tokenize(word.encode().decode("latin-1").translate(_BYTE_CHARS)))
                    found[i] = n
        return sum(found)

    def joins_cleanly(self, before: str, last_word: str, after: str) -> bool:
        """Whether `before + after` splits as split(before) + split(after), given before's last word.

        The split has no look-behind, so everything up to before's last word is unchanged, and from the
        join on it is split(after) exactly when the word that now starts at last_word ends at the join.
        """
        m = _MATCH(before + after, len(before) - len(last_word))
        return m is not None and m.end() == len(before)

    def _check_chars(self, chars) -> set[str]:
        """Check characters not seen before; returns the ones the engines split differently."""
        good, bad = [], set()
        for ch in chars:
            try:
                ch.encode()
            except UnicodeEncodeError:  # a lone surrogate: the tokenizer's business
                bad.add(ch)
            else:
                good.append(ch)
        # All probes of all characters in one text first; one by one only to find the culprits.
        if good and not self._agree("".join(p.format(ch) for ch in good for p in _PROBES)):
            bad.update(ch for ch in good if not self._agree("".join(p.format(ch) for p in _PROBES)))
        self._unsafe.update(bad)
        self._checked.update(ch for ch in good if ch not in bad)
        if self._unsafe:
            self._unsafe_in = re.compile("[" + "".join(_ranges(self._unsafe)) + "]").search
        # (the standard library's `re` keeps a large character set as a bitmap: a fast scan)
        self._unknown = re.compile("[^\\x00-\\x7f" + "".join(_ranges(self._checked | self._unsafe)) + "]")
        return bad

    def _agree(self, text: str) -> bool:
        ours = [w.encode().decode("latin-1").translate(_BYTE_CHARS) for w in self._split(text)]
        return ours == [w for w, _ in self._pre.pre_tokenize_str(text)]
