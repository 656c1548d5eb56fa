"""`clean`: make text plain and tidy without changing what it says.

HTML goes through a real parser (selectolax): tags are removed, entities decoded, and the bodies of
`<script>`/`<style>` dropped rather than kept as text (a peer that keeps them lets a later URL cleaner
eat whole paragraphs). URLs are matched on ASCII only, so a URL glued to Chinese text never swallows
the Chinese. Fenced code blocks (```) are left alone by the HTML, URL and whitespace rules: an answer
that teaches HTML or shows indented code must survive cleaning.

Every rule has a cheap test first (is there a '<'? a non-ASCII character?) so clean records cost
little: the pipeline's budget is ~100 microseconds per record for all steps together.
"""

from __future__ import annotations

import html
import re
from typing import Literal

from pydantic import Field

from tunesmith.data.example import Example
from tunesmith.data.steps.base import Drop, Step, StepOptions, map_texts


class CleanOptions(StepOptions):
    html: bool = Field(True, description="Remove HTML tags (script/style bodies too) and decode entities.")
    urls: Literal["keep", "remove", "replace"] = Field(
        "keep", description="URLs: keep, remove, or replace with `url_placeholder`.")
    url_placeholder: str = Field("<URL>", description="What replaces a URL when urls=replace.")
    fix_unicode: bool = Field(True, description="Repair mojibake and broken escapes with ftfy; drop control and "
                                                "zero-width characters.")
    width: Literal["none", "alnum", "all"] = Field("alnum", description=(
        "Full-width to half-width: alnum (letters, digits, the ideographic space; Chinese punctuation such\n"
        "as ，！？ stays), all (every full-width form), none."))
    whitespace: bool = Field(True, description="Collapse runs of spaces, strip line ends, at most one blank line.")
    lowercase: bool = Field(False, description="Lower-case Latin letters (other scripts are untouched).")
    t2s: bool = Field(False, description="Traditional to simplified Chinese (OpenCC t2s).")


# Tags or entities: only then is the HTML parser worth its cost.
_HTML_HINT = re.compile(r"<[A-Za-z!/?]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]{2,8});")
_BLOCK_TAGS = re.compile(r"<\s*/?\s*(?:p|div|br|li|ul|ol|tr|table|h[1-6]|section|article|pre|blockquote)\b[^>]*>",
                         re.IGNORECASE)
_DROP_TAGS = "script,style,noscript,template,head"
# ASCII-only URL bodies: a URL never continues into CJK text or full-width punctuation.
_URL = re.compile(r"(?:(?<![A-Za-z0-9])(?:https?|ftp)://|(?<![A-Za-z0-9.])www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]"
_FENCE = re.compile(r"(```.*?(?:```|\Z))", re.DOTALL)
# Runs of spaces inside a line (indentation at the start of a line is kept: nested lists, poems).
_SPACES = re.compile(r"(?<=\S)(?:[ \t\u00a0\u2000-\u200a\u202f\u205f]{2,}|[\t\u00a0\u2000-\u200a\u202f\u205f])")
_SPACE_HINT = re.compile(r"[\t\u00a0\u2000-\u200a\u202f\u205f]")  # what _SPACES changes besides "  "
_LINE_END_SPACE = re.compile(r"[ \t\u00a0]+(?=\n|\Z)")
_LINE_END_CHARS = (" ", "\t", "\u00a0")
_BLANK_LINES = re.compile(r"\n{3,}")
_ONE_LEADING_SPACE = re.compile(r"(?<=\n) (?=\S)")  # left by removed tags; real indentation is wider
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u2060\ufeff]")
# Characters that only appear in mojibake or broken text; ftfy runs only when one is present.
_SUSPECT = re.compile(r"[\x80-\xff\u0100-\u017f\u02c6\u02dc\u2018-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122\ufffd]")
_FULLWIDTH_ALNUM = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}
_FULLWIDTH_ALNUM[0x3000] = 0x20
_FULLWIDTH_ALL = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH_ALL[0x3000] = 0x20
_LATIN_UPPER = re.compile(r"[A-Z\u00c0-\u00de\u0100-\u024f]+")


class CleanStep(Step):
    """HTML, URLs, broken unicode, width, whitespace, case, traditional->simplified."""

    name = "clean"
    Options = CleanOptions

    def __init__(self, options: CleanOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        self._fields = tuple(o.fields)
        self._width = {"alnum": _FULLWIDTH_ALNUM, "all": _FULLWIDTH_ALL}.get(o.width)
        self._wide_hint = _char_class(self._width) if self._width is not None else None
        self._ftfy_config = None
        if o.fix_unicode:
            import ftfy

            # Width and quotes are ours to decide (ftfy would turn Chinese ，into ,); HTML is ours too.
            self._ftfy = ftfy
            self._ftfy_config = ftfy.TextFixerConfig(unescape_html=False, fix_character_width=False,
                                                     uncurl_quotes=False, explain=False)
        # One scan over non-ASCII text for every rare character the unicode, control and width rules act on:
        # most texts have none, and three scans cost three times one.
        classes = ([_SUSPECT] if o.fix_unicode else []) + [_CONTROL] + ([self._wide_hint] if self._width else [])
        self._rare_hint = re.compile("[" + "".join(c.pattern[1:-1] for c in classes) + "]")
        self._t2s = None
        if o.t2s:
            from opencc import OpenCC

            self._t2s = OpenCC("t2s")

    def apply(self, example: Example) -> Example | Drop:
        self._changed = False
        map_texts(example, self.clean_text, self._fields)
        if self._changed:
            self.stats.changed += 1
        return example

    def clean_text(self, text: str) -> str:
        """One text through every enabled rule; counts which rules changed something."""
        original = text
        rare = self._has_rare(text)
        if rare and self._ftfy_config is not None and not text.isascii() and _SUSPECT.search(text):
            fixed = self._ftfy.fix_text(text, self._ftfy_config)
            if fixed != text:
                self.stats.counts["unicode"] += 1
                text = fixed
        before = text
        text = self._prose(text) if "```" not in text else self._fenced(text)
        if text is not before:  # decoded HTML entities (&#1;, &#65313;) can bring control or wide characters
            rare = self._has_rare(text)
        if rare and self._ftfy_config is not None and _CONTROL.search(text):
            text = _CONTROL.sub("", text)
            self.stats.counts["control_chars"] += 1
        # str.translate with a dict looks up every character in Python: only run it when a wide one is there.
        if rare and self._width is not None and not text.isascii() and self._wide_hint.search(text):
            wide = text.translate(self._width)
            if wide != text:
                self.stats.counts["width"] += 1
                text = wide
        return self._case_and_script(text, original)

    def _has_rare(self, text: str) -> bool:
        """Any character the unicode, control or width rules act on (one scan; most texts have none)."""
        return (_CONTROL if text.isascii() else self._rare_hint).search(text) is not None

    def _fenced(self, text: str) -> str:
        parts = _FENCE.split(text)  # odd indexes are fenced code
        return "".join(p if i % 2 else self._prose(p) for i, p in enumerate(parts))

    def _case_and_script(self, text: str, original: str) -> str:
        """The last rules (lower case, traditional to simplified), and the changed-record mark."""
        o = self.options
        if o.lowercase:
            lower = _LATIN_UPPER.sub(lambda m: m.group().lower(), text)
            if lower != text:
                self.stats.counts["lowercase"] += 1
                text = lower
        if self._t2s is not None and not text.isascii():
            simple = self._t2s.convert(text)
            if simple != text:
                self.stats.counts["t2s"] += 1
                text = simple
        if text != original:
            self._changed = True
        return text

    def _prose(self, text: str) -> str:
        """Rules for text outside code fences: HTML, URLs, whitespace."""
        o = self.options
        if o.html and ("<" in text or "&" in text) and _HTML_HINT.search(text):
            stripped = strip_html(text)
            if stripped != text:
                self.stats.counts["html"] += 1
                text = stripped
        if o.urls != "keep" and ("://" in text or "www." in text):
            replacement = o.url_placeholder if o.urls == "replace" else ""
            replaced, n = _URL.subn(lambda m: _replace_url(m, replacement), text)
            if n:
                self.stats.counts["urls"] += n
                text = replaced
        if o.whitespace:
            tidy = tidy_whitespace(text)
            if tidy != text:
                self.stats.counts["whitespace"] += 1
                text = tidy
        return text


def strip_html(text: str) -> str:
    """Visible text of an HTML fragment: block tags become line breaks, script/style bodies vanish."""
    from selectolax.lexbor import LexborHTMLParser

    if "<" not in text:
        return html.unescape(text)
    marked = _BLOCK_TAGS.sub(lambda m: "\n" + m.group(), text)
    tree = LexborHTMLParser(marked)
    for node in tree.css(_DROP_TAGS):
        node.decompose()
    root = tree.body
    return root.text(deep=True, separator="", strip=False) if root is not None else html.unescape(text)


def _replace_url(match: re.Match, replacement: str) -> str:
    url = match.group()
    # Sentence punctuation and an unbalanced closing bracket after a URL belong to the sentence.
    cut = len(url)
    while cut and url[cut - 1] in _URL_TRAILING:
        if url[cut - 1] == ")" and url[:cut].count("(") >= url[:cut].count(")"):
            break
        cut -= 1
    return replacement + url[cut:]


def _char_class(table: dict) -> re.Pattern:
    """A regex matching any character `table` maps."""
    return re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(table)) + "]")


def tidy_whitespace(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # The two space rules start with a look-behind / look-ahead, which the regex engine tries at every
    # position; these plain tests find exactly the texts they could change, and most texts are tidy.
    if "  " in text or (not text.isascii() or "\t" in text) and _SPACE_HINT.search(text):
        text = _SPACES.sub(" ", text)
    if text[-1:] in _LINE_END_CHARS or " \n" in text or "\t\n" in text or "\u00a0\n" in text:
        text = _LINE_END_SPACE.sub("", text)
    if "\n " in text:
        text = _ONE_LEADING_SPACE.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()
