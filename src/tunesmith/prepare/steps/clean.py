"""`clean`: make text plain and tidy without changing what it says.

The contract: code, markup that is content, tables and drawings come out byte-identical, and no rule
empties a text. A text is first cut into CODE / GRID / PROSE pieces (`clean_code`): fenced blocks,
inline `code` spans and paragraphs that read as code are CODE and no rule touches them; aligned tables
and ASCII art are GRID and keep every character where it is. The rules:

- html (`clean_html`): removes markup only where it is noise. The record's instruction decides first
  (one about code, or one that asks to make HTML, a web page or a table, makes its markup content),
  then the text (one that names tags as examples: "the <hr> tag"), then the markup itself (only certain
  HTML tags go; `List<String>`, `a<b`, XML stay). Script/style bodies are dropped. Placeholder markers
  such as `<nooutput>`/`<noinput>` are not HTML and stay: the `machine_text` step judges such answers.
- urls (`clean_prose`): ASCII-only, so a URL glued to Chinese never swallows it; with `remove` the label,
  brackets or line that only held the URL go too, and a URL inside a sentence stays (flagged
  `url_in_sentence`), as does one in a table (`url_in_table`). A record whose instruction is about a URL
  or link, or a text that is mostly its URL, keeps its URLs and is flagged `url_is_content`.
- fix_unicode (ftfy, control and zero-width characters), width, whitespace, lowercase: on prose only
  (whitespace and width not on grids, which they would misalign).
- t2s (OpenCC): not on a record that asks for or talks about traditional characters; Japanese
  sentences (with kana) and an original-script name after its romanisation ("Kenshi Yonezu (米津玄師)")
  are left as written.

Every rule has a cheap test first, and a text none of them would change is returned at once: most
records cost a few string scans. OpenCC (pure Python, ~0.4 ms a text) runs only on texts holding a
character it could change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, map_texts
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.clean_code import CODE, GRID, PROSE, pieces, spans
from tunesmith.prepare.steps.clean_html import HINT as _HTML_HINT
from tunesmith.prepare.steps.clean_html import asks_for_markup, has_html, mentions_markup, strip_html
from tunesmith.prepare.steps.clean_prose import URL, remove_urls, replace_urls, tidy_whitespace, unmark, urls_are_the_text
from tunesmith.prepare.steps.clean_script import Simplifier


class CleanOptions(StepOptions):
    html: bool = Field(True, description=(
        "Remove HTML that is noise (tags, script/style bodies, entities); markup the instruction asks for\n"
        "or talks about, markup in code, XML and non-tag brackets (<nooutput>, List<String>) stay."))
    urls: Literal["keep", "remove", "replace"] = Field(
        "keep", description="URLs: keep, remove, or replace with `url_placeholder` (never inside code).")
    url_placeholder: str = Field("<URL>", description="What replaces a URL when urls=replace.")
    fix_unicode: bool = Field(True, description="Repair mojibake and broken escapes with ftfy; drop control "
                                                "characters and zero-width spaces (joiners stay).")
    width: Literal["none", "alnum", "all"] = Field("alnum", description=(
        "Full-width to half-width: alnum (letters, digits, the ideographic space; Chinese punctuation such\n"
        "as ，！？ stays), all (punctuation too, inside full-width words and in texts without Chinese or\n"
        "Japanese: ＧＰＴ－４ -> GPT-4, while 你好，世界！ keeps its punctuation), none."))
    whitespace: bool = Field(True, description=(
        "Collapse runs of spaces (ideographic ones too), strip line ends, at most one blank line; code,\n"
        "aligned tables and ASCII art keep their spacing."))
    lowercase: bool = Field(False, description="Lower-case Latin letters (other scripts are untouched).")
    t2s: bool = Field(False, description=(
        "Traditional to simplified Chinese (OpenCC t2s); not where traditional characters are the task,\n"
        "nor in Japanese sentences or original-script names."))


_WIDE_SPACE = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000]")  # spaces the whitespace rule acts on
# Control characters, zero-width space, word joiner, BOM. Not the zero-width (non-)joiners U+200C/U+200D:
# they are spelling in Persian and Indic scripts and hold emoji sequences together (🏋️‍♀️, 👨‍👩‍👧).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2060\ufeff]")
# Characters that only appear in mojibake or broken text; ftfy runs only when one is present.
_SUSPECT = re.compile(r"[\x80-\xff\u0100-\u017f\u02c6\u02dc\u2018-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122\ufffd]")
_FULLWIDTH_ALNUM = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}
_FULLWIDTH_ALNUM[0x3000] = 0x20
_FULLWIDTH_ALL = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH_ALL[0x3000] = 0x20
# Full-width punctuation in Chinese or Japanese text is that text's punctuation ("Adam，Joe", "什么是API？"):
# width=all makes it half-width only inside a full-width word ("ＧＰＴ－４" -> "GPT-4") or in a text with no
# CJK at all; neighbours alone cannot tell ("（Photo）" would lose one bracket of its pair).
_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f]")  # ideographs, kana, 。、「」
_WIDE_PUNCT_CLASS = "[" + "".join(re.escape(chr(c)) for c in sorted(_FULLWIDTH_ALL) if c not in _FULLWIDTH_ALNUM) + "]"
_IN_WIDE_WORD = re.compile("(?<=[０-９Ａ-Ｚａ-ｚ])" + _WIDE_PUNCT_CLASS + "(?=[０-９Ａ-Ｚａ-ｚ])")


def _half_width(text: str, cjk: bool) -> str:
    """width=all on a piece of a text (`cjk`: the whole text has Chinese or Japanese in it)."""
    if cjk:
        text = _IN_WIDE_WORD.sub(lambda m: chr(ord(m.group()) - 0xFEE0), text)
        return text.translate(_FULLWIDTH_ALNUM)
    return text.translate(_FULLWIDTH_ALL)


_LATIN_UPPER = re.compile(r"[A-Z\u00c0-\u00de\u0100-\u024f]+")
# An instruction about a URL or link: its record's URLs are content.
_URL_CONTEXT = re.compile(r"(?<![a-z])(?:urls?|uris?|links?|hyperlinks?|websites?|web ?pages?|sites?|homepages?|"
                          r"domains?)(?![a-z])|网址|链接|网站|网页|域名|主页|官网", re.IGNORECASE)


@dataclass
class _Record:
    """What cleaning one record learns on the way (what it asks, the flags to set, whether a text changed):
    held per record, never on the step, so a step object serves any number of records at once."""
    example: Example | None = None
    asks: str | None = None
    flags: dict[str, str] = field(default_factory=dict)
    changed: bool = False

    def instruction(self) -> str:
        """What the record asks (system prompt and every user turn): it decides what is content."""
        if self.asks is None:
            ex = self.example
            asks = [ex.system or ""] + [t.content for t in ex.turns if t.role == "user"] if ex is not None else []
            self.asks = "\n".join(asks)
        return self.asks

    def flag(self, reason: str, detail: str) -> None:
        self.flags.setdefault(reason, detail)


@register
class CleanStep(Step):
    """HTML, URLs, broken unicode, width, whitespace, case, traditional->simplified; code and grids untouched."""

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
        classes = ([_SUSPECT] if o.fix_unicode else []) + [_CONTROL] + ([self._wide_hint] if self._width else []) + (
            [_WIDE_SPACE] if o.whitespace else [])
        self._rare_hint = re.compile("[" + "".join(c.pattern[1:-1] for c in classes) + "]")
        self._t2s = Simplifier() if o.t2s else None

    # -- one record ----------------------------------------------------------------------------------
    def apply(self, example: Example) -> Example | Drop:
        record = _Record(example)
        map_texts(example, lambda text: self.clean_text(text, record), self._fields)
        for reason, detail in record.flags.items():
            self.flag(example, reason, detail)
        if record.changed:
            self.stats.changed += 1
        return example

    # -- one text ------------------------------------------------------------------------------------
    def clean_text(self, text: str, record: "_Record | None" = None) -> str:
        """One text (of `record`, when it is part of one) through every enabled rule; counts which rules
        changed something."""
        record = record if record is not None else _Record()
        o = self.options
        rare = self._has_rare(text)
        html = o.html and ("<" in text or "&" in text) and _HTML_HINT.search(text) is not None
        urls = o.urls != "keep" and ("://" in text or "www." in text)
        # Plain substring tests find the texts the whitespace rule could change (wide spaces count as rare).
        space = o.whitespace and (rare or "  " in text or " \n" in text or "\n " in text or "\t" in text
                                  or "\r" in text or "\n\n\n" in text or text[:1].isspace() or text[-1:].isspace())
        script = self._t2s is not None and self._t2s.may_change(text)
        if not (rare or html or urls or space or script or o.lowercase):
            return text  # most texts: nothing any rule would change
        original = text
        if html:
            text = self._html(text, record)
            if text is not original:  # decoded entities (&#1;, &#65313;, &nbsp;) bring what other rules act on
                rare = self._has_rare(text)
                space = o.whitespace
        parts = pieces(text)
        if urls:
            removed = self._urls(parts, record)
            if removed is not parts:  # what a URL leaves (a space, a blank line) is the whitespace rule's
                parts, space = removed, o.whitespace
        if script and (self._t2s.is_the_task(record.instruction()) or self._t2s.is_the_task(text)):
            script = False
        # Does the text hold Chinese or Japanese (for width=all)? After URL removal, which can take the only
        # Chinese of a text with a label: "网址为: URL".
        cjk = self._width is _FULLWIDTH_ALL and any(_CJK.search(p) for _, p in parts)
        last = len(parts) - 1
        out = []
        for i, (kind, piece) in enumerate(parts):
            if kind != CODE:
                piece = self._piece(piece, kind, i == 0, i == last, rare, space, script, cjk)
            out.append(piece)
        text = "".join(out)
        if text != original:
            record.changed = True
        return text

    def _piece(self, piece: str, kind: str, first: bool, last: bool, rare: bool, space: bool, script: bool,
               cjk: bool) -> str:
        """The rules on a PROSE or GRID piece; whitespace and width on PROSE only (they would misalign a grid)."""
        if rare and self._ftfy_config is not None and not piece.isascii() and _SUSPECT.search(piece):
            fixed = self._ftfy.fix_text(piece, self._ftfy_config)
            if fixed != piece:
                self.stats.counts["unicode"] += 1
                piece = fixed
        if rare and self._ftfy_config is not None and _CONTROL.search(piece):
            piece = _CONTROL.sub("", piece)
            self.stats.counts["control_chars"] += 1
        # str.translate with a dict looks up every character in Python: only run it when a wide one is there.
        if kind == PROSE and rare and self._width is not None and not piece.isascii() and self._wide_hint.search(piece):
            wide = (_half_width(piece, cjk) if self._width is _FULLWIDTH_ALL
                    else piece.translate(_FULLWIDTH_ALNUM))
            if wide != piece:
                self.stats.counts["width"] += 1
                piece = wide
        if kind == PROSE and space:
            tidy = tidy_whitespace(piece, first, last)
            if tidy != piece:
                self.stats.counts["whitespace"] += 1
                piece = tidy
        if self.options.lowercase:
            lower = _LATIN_UPPER.sub(lambda m: m.group().lower(), piece)
            if lower != piece:
                self.stats.counts["lowercase"] += 1
                piece = lower
        if script:
            simple = self._t2s.convert(piece)
            if simple != piece:
                self.stats.counts["t2s"] += 1
                piece = simple
        return piece

    def _has_rare(self, text: str) -> bool:
        """Any character the unicode, control or width rules act on (one scan; most texts have none)."""
        return (_CONTROL if text.isascii() else self._rare_hint).search(text) is not None

    # -- the rules that need the record ----------------------------------------------------------------
    def _html(self, text: str, record: "_Record") -> str:
        """Strip HTML outside code when it is noise: not asked for, not talked about, certainly HTML."""
        parts = spans(text)  # fences and inline code are never markup to remove
        prose = "".join(p for kind, p in parts if kind != CODE)
        if not has_html(prose) or mentions_markup(prose) or asks_for_markup(record.instruction()):
            return text
        # One parse for the whole text, code spans held out by placeholders the parser passes through.
        held = [p for kind, p in parts if kind == CODE]
        marked, n = [], 0
        for kind, p in parts:
            if kind == CODE:
                marked.append(f"\ue000{n}\ue001")
                n += 1
            else:
                marked.append(p)
        marked = "".join(marked)
        stripped = strip_html(marked)
        if held:
            stripped = re.sub("\ue000(\\d+)\ue001", lambda m: held[int(m.group(1))], stripped)
        if not any(c.isalnum() for c in stripped):
            record.flag("markup_is_content", "removing its HTML would leave nothing: kept as written")
            return text
        if stripped != text:
            self.stats.counts["html"] += 1
        return stripped

    def _urls(self, parts: list[tuple[str, str]], record: "_Record") -> list[tuple[str, str]]:
        """Remove or replace URLs in PROSE pieces, unless the URLs are what the record is about."""
        o = self.options
        if any(kind == GRID and URL.search(p) for kind, p in parts):
            record.flag("url_in_table", "a URL in a table or drawing: kept (removing it would misalign it)")
        if _URL_CONTEXT.search(record.instruction()):
            if any(kind == PROSE and URL.search(p) for kind, p in parts):
                record.flag("url_is_content", "the instruction is about a URL, link or website: URLs kept")
            return parts
        if o.urls == "replace":
            new, n = [], 0
            for kind, piece in parts:
                if kind == PROSE:
                    piece, k = replace_urls(piece, o.url_placeholder)
                    n += k
                new.append((kind, piece))
            self.stats.counts["urls"] += n
            return new if n else parts
        new, n, kept = [], 0, 0
        for kind, piece in parts:
            if kind == PROSE:
                piece, k, stay = remove_urls(piece)
                n, kept = n + k, kept + stay
            new.append((kind, piece))
        if kept:
            record.flag("url_in_sentence", "a URL is part of a sentence: kept (urls: replace marks its place)")
        if not n:
            return parts
        if urls_are_the_text("".join(p for _, p in new)):
            record.flag("url_is_content", "the URL is what the text is about: removing it would empty it")
            return parts
        self.stats.counts["urls"] += n
        return [(k, unmark(p)) for k, p in new if unmark(p)]


def _char_class(table: dict) -> re.Pattern:
    """A regex matching any character `table` maps."""
    return re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(table)) + "]")
