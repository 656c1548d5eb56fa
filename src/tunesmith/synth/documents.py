"""Read raw documents: plain text, Markdown, HTML and JSONL (one document per line).

Each document keeps the exact text that passages are cut from, so that the character offsets a
synthesized record carries in its `meta` point back into that text:
- .txt and .md: the file itself (decoded; line endings kept as they are). Markdown front matter and
  HTML comments are blanked with spaces of the same length, so offsets still match the file.
- .html/.htm: the visible text, one paragraph per block element (scripts, styles and navigation
  and footers left out); offsets index this extracted text.
- .jsonl: one document per line, its text from `text_field` (or the first of text, content, body,
  passage); offsets index that field. A bad line is reported with file:line and skipped, or stops
  the run when `strict`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tunesmith.records.formats.checks import TOO_DEEP
from tunesmith.errors import DataError

SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
            ".html": "html", ".htm": "html", ".jsonl": "jsonl"}
JSONL_TEXT_FIELDS = ("text", "content", "body", "passage")

# Block elements end a paragraph; the skipped ones hold no readable prose.
_BLOCK = {"p", "div", "section", "article", "main", "header", "aside", "blockquote", "pre",
          "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr", "td", "th",
          "figure", "figcaption", "caption", "hr", "address", "details", "summary", "form", "fieldset"}
_SKIP = {"script", "style", "noscript", "template", "svg", "head", "nav", "iframe", "object", "canvas",
         "button", "select", "textarea", "math", "footer"}
_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n.*?\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclass
class Document:
    source: str                 # the file path as given
    text: str
    line: int | None = None     # JSONL: the line the document came from
    meta: dict = field(default_factory=dict)


@dataclass
class ReadReport:
    files: int = 0
    documents: int = 0
    empty: int = 0
    bad_lines: list[str] = field(default_factory=list)  # "file:line: why"


def expand(paths: list[str | Path]) -> list[Path]:
    """Files to read: each path given, with folders searched (sorted) for the supported suffixes."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            inside = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
            if not inside:
                raise DataError(f"{p}: folder holds no documents",
                                f"supported files end in {', '.join(sorted(SUFFIXES))}")
            found.extend(inside)
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise DataError(f"{p}: cannot read '{p.suffix or 'no suffix'}' documents",
                                f"give {', '.join(sorted(SUFFIXES))} files (PDFs: convert to text first)")
            found.append(p)
        else:
            raise DataError(f"document not found: {p}", "check the path")
    return found


def read_documents(paths: list[str | Path], text_field: str | None = None, strict: bool = False,
                   report: ReadReport | None = None) -> Iterator[Document]:
    report = report if report is not None else ReadReport()
    for path in expand(paths):
        report.files += 1
        kind = SUFFIXES[path.suffix.lower()]
        if kind == "jsonl":
            docs = _jsonl(path, text_field, strict, report)
        else:
            raw = decode(path)
            text = html_text(raw) if kind == "html" else markdown_text(raw) if kind == "markdown" else raw
            docs = iter([Document(str(path), text)])
        for doc in docs:
            if doc.text.strip():
                report.documents += 1
                yield doc
            else:
                report.empty += 1


def decode(path: Path) -> str:
    """UTF-8 (with or without BOM); GB18030 as a fallback, since many Chinese text files use it."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(f"{path}: neither UTF-8 nor GB18030 text", "convert the file to UTF-8 (e.g. iconv -t UTF-8)")


def markdown_text(raw: str) -> str:
    """Markdown stays as written (LLMs read it well); front matter and comments become spaces."""
    blank = lambda m: re.sub(r"[^\r\n]", " ", m.group(0))  # noqa: E731 - same length, same lines
    return _HTML_COMMENT.sub(blank, _FRONT_MATTER.sub(blank, raw))


def html_text(raw: str) -> str:
    """Visible text of a page, a blank line between block elements, inline markup joined."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(raw)
    root = tree.body or tree.root
    blocks: list[str] = []
    buf: list[str] = []

    def flush():
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(buf))
        text = "\n".join(line.strip() for line in text.split("\n")).strip()
        if text:
            blocks.append(text)
        buf.clear()

    def walk(node):
        for child in node.iter(include_text=True):
            if child.is_text_node:
                buf.append((child.text_content or "").replace("\n", " "))
            elif not child.is_element_node or child.tag in _SKIP:
                continue
            elif child.tag == "br":
                buf.append("\n")
            elif child.tag in _BLOCK:
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    if root is not None:
        walk(root)
    flush()
    return "\n\n".join(blocks)


def _jsonl(path: Path, text_field: str | None, strict: bool, report: ReadReport) -> Iterator[Document]:
    for number, line in enumerate(decode(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            try:
                record = json.loads(line)
            except RecursionError:  # nested past the reader's stack: a reject with its line, like any bad one
                raise ValueError(TOO_DEEP) from None
            if not isinstance(record, dict):
                raise ValueError(f"a JSON {type(record).__name__}, not an object")
            names = (text_field,) if text_field else JSONL_TEXT_FIELDS
            key = next((n for n in names if n in record), None)
            if key is None:
                raise ValueError(f"no text field (looked for {', '.join(names)})")
            if not isinstance(record[key], str):
                raise ValueError(f"field '{key}' is {type(record[key]).__name__}, not text")
        except ValueError as e:
            why = f"{path}:{number}: {e}"
            if strict:
                raise DataError(why, "fix the line, or run without --strict to skip bad lines") from None
            report.bad_lines.append(why)
            continue
        extra = {k: v for k, v in record.items() if k != key and isinstance(v, (str, int, float, bool))}
        yield Document(str(path), record[key], line=number, meta=extra)
