"""Where `clean` may not touch a text: code, and text laid out on a grid.

`pieces(text)` cuts a text into consecutive pieces, each `CODE`, `GRID` or `PROSE`, whose join is the
text itself. Cleaning rules then run on the pieces they may change and pass the others through, so a
fenced block, an inline `code` span, an answer that is code (HTML, SQL, a Python function without a
fence), an aligned table or ASCII art comes out byte-identical.

- CODE: fenced blocks (```...``` anywhere, ~~~ at a line start; an unclosed fence runs to the end),
  inline spans (`x`, ``x``), and paragraphs most of whose lines read as code. No rule touches CODE.
- GRID: paragraphs whose columns line up (space gaps on several lines, pipes, box and ASCII art).
  Rules that move characters (whitespace, width, URL and HTML removal) leave GRID alone; rules that
  change a character in place (mojibake, traditional -> simplified, case) still apply.
- PROSE: the rest; every rule applies.

When in doubt a paragraph is CODE or GRID: not cleaning a line costs little, breaking code costs an
answer. Paragraphs are split at blank lines; a blank line between two CODE paragraphs is CODE too.
"""

from __future__ import annotations

import re

CODE, GRID, PROSE = "code", "grid", "prose"

_FENCE = re.compile(r"```.*?(?:```|\Z)|(?:(?<=\n)|\A)[ \t]*~~~.*?(?:\n[ \t]*~~~[^\n]*|\Z)", re.DOTALL)
_INLINE = re.compile(r"``[^\n]+?``|`[^`\n]+`")
_BLANK = re.compile(r"(\n[ \t\u3000]*\n(?:[ \t\u3000]*\n)*)")

# A line that reads as code: a statement start, a block or statement end, markup, a shell prompt.
_CODE_START = re.compile(
    r"(?:def |class \w+\s*[:({<]|import [\w.]+|from [\w.]+ import |return\b|raise |yield |elif |else\s*[:{]|"
    r"except\b|try\s*[:{]|finally\s*[:{]|(?:if|for|while|switch|with|foreach)\s*\(|(?:if|for|while|with) .*:$|"
    r"print\(|printf\(|console\.\w|System\.\w|std::|cout\s*<<|#include\b|#define\b|#!|#import\b|"
    r"(?:var|let|const|auto|int|float|double|char|bool|string|String|void|long|boolean)\s+[\w*&\[\]<>]+\s*[=;(,\[]|"
    r"(?:public|private|protected|static|final|async|export|package|using|namespace|struct|enum|interface|"
    r"template|typedef|func|fn|function)\b.*[({;=<]|"
    r"(?:SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+(?:TABLE|INDEX|VIEW|DATABASE)|ALTER\s+TABLE|"
    r"DROP\s+TABLE|FROM|WHERE|GROUP\s+BY|ORDER\s+BY|HAVING|LIMIT|VALUES|(?:INNER|LEFT|RIGHT|OUTER)?\s*JOIN)\b|"
    r"\$ \S|>>> |(?:sudo|pip3?|npm|yarn|git|apt-get|apt|brew|docker|curl|wget|mkdir|chmod|cd|ls|rm|cp|mv|cat|"
    r"grep|echo|python3?|node|gcc|javac|java|conda|kubectl)\s+[-\w./~'\"$]|"
    r"[A-Za-z_$][\w.$]*(?:\[[^\]]*\])?\s*(?:[-+*/%|&^]?=(?!=)|:=)\s*\S|"
    r"[\w.$]+\([^()]*(?:\([^()]*\)[^()]*)*\)\s*;?$|"
    r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>.*>?$|<!--|<!DOCTYPE|<\?xml|\"[^\"\n]+\"\s*:\s*\S|.*\S\s*=>\s*\S|"
    r"//|/\*|\*/|[{}()\[\]]+[;,]?$)")
_CODE_END = ("{", "}", ";", "[", "(", "},", "],", "),", "};", ");", "});", "\\", "=>", "->", "&&", "||")
# A line of a table or a drawing: a gap of two or more spaces (or a tab) between two non-spaces; one line
# alone is a table row when it has two gaps of three or more.
_GAP = re.compile(r"\S(?:[ \u3000]{2,}|\t[ \t\u3000]*)(?=\S)")
_WIDE_GAP = re.compile(r"\S[ \u3000]{3,}(?=\S)")
_SYMBOL = re.compile(r"[-_=+*#|/\\<>^~.:'`()\[\]{}o@%&$!;,]")


def pieces(text: str) -> list[tuple[str, str]]:
    """`text` as (kind, piece) pairs in order; `"".join(piece for _, piece in pieces(text)) == text`."""
    out: list[tuple[str, str]] = []
    last = 0
    if "```" in text or "~~~" in text:
        for m in _FENCE.finditer(text):
            if m.start() > last:
                _paragraphs(text[last:m.start()], out)
            _add(out, CODE, m.group())
            last = m.end()
    if last < len(text):
        _paragraphs(text[last:], out)
    return out


def spans(text: str) -> list[tuple[str, str]]:
    """Like `pieces`, with only fences and inline spans as CODE (paragraphs are not judged)."""
    out: list[tuple[str, str]] = []
    last = 0
    if "```" in text or "~~~" in text:
        for m in _FENCE.finditer(text):
            _inline(text[last:m.start()], out)
            _add(out, CODE, m.group())
            last = m.end()
    _inline(text[last:], out)
    return out


def is_code(text: str) -> bool:
    """Does the whole text read as code (one CODE piece, or fenced blocks and code paragraphs only)?"""
    return all(kind == CODE or not piece.strip() for kind, piece in pieces(text))


def _add(out: list, kind: str, piece: str) -> None:
    if not piece:
        return
    if out and out[-1][0] == kind:
        out[-1] = (kind, out[-1][1] + piece)
    else:
        out.append((kind, piece))


def _paragraphs(part: str, out: list) -> None:
    """Paragraphs of a text without fences, classified; blank lines between CODE stay CODE."""
    chunks = _BLANK.split(part)  # odd indexes are the blank-line separators
    kinds = [None if i % 2 else _kind(c) for i, c in enumerate(chunks)]
    for i, chunk in enumerate(chunks):
        kind = kinds[i]
        if kind is None:  # a separator: code inside code, else prose
            before = kinds[i - 1] if i else None
            after = kinds[i + 1] if i + 1 < len(kinds) else None
            kind = CODE if before == CODE and after == CODE else PROSE
        if kind == PROSE and "`" in chunk:
            _inline(chunk, out)
        else:
            _add(out, kind, chunk)


def _inline(chunk: str, out: list) -> None:
    last = 0
    for m in _INLINE.finditer(chunk):
        _add(out, PROSE, chunk[last:m.start()])
        _add(out, CODE, m.group())
        last = m.end()
    _add(out, PROSE, chunk[last:])


def _kind(paragraph: str) -> str:
    lines = [line for line in paragraph.split("\n") if line.strip()]
    if not lines:
        return PROSE
    code = sum(1 for line in lines if is_code_line(line))
    if code and code * 2 >= len(lines):
        return CODE
    if _is_grid(lines):
        return GRID
    return PROSE


def is_code_line(line: str) -> bool:
    """Does one line read as code? (Prose that ends in ';' or starts 'x = ' counts too: kept, not harmed.)"""
    s = line.strip()
    if not s:
        return False
    if s.endswith(_CODE_END) and not s.endswith(("...;", "...(")):
        return True
    return _CODE_START.match(s) is not None


def _is_grid(lines: list[str]) -> bool:
    gapped = pipes = art = 0
    for line in lines:
        if _GAP.search(line) is not None:
            gapped += 1
            if len(_WIDE_GAP.findall(line)) >= 2:
                return True
        if line.count("|") >= 2:
            pipes += 1
        s = line.strip()
        if len(s) >= 3 and len(_SYMBOL.findall(s)) * 2 >= len(s) and not s.startswith(("- ", "* ", "> ")):
            art += 1
    return gapped >= 2 or pipes >= 2 or art >= 2 or (art and gapped)
