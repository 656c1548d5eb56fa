"""The safety rule files, read and compiled (see safety_patterns.py for what the rules mean).

Terms (`<category>.txt`), patterns (`patterns/<category>.txt`: `family: regex` lines with {slot}s and one
{@anchor}), slots (`slots/<slot>.txt`: phrases, or `re:` regex fragments that may name other slots) and
contexts (`context.txt`) become one phrase automaton (anchors, terms, allow list), one regex per
pattern and per context, and, for each pattern, where a match can start (at its anchor, at its
leading word list, or anywhere) so that the detector tries it only there. A mistake in a file is a
ConfigError that names the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.prepare.steps.lexicon import PhraseMatcher, TermBoundaries, has_cjk, read_lexicon, shipped_dir
from tunesmith.errors import ConfigError

# Contexts see a hit as HIT_OPEN + the anchor's text + HIT_CLOSE in place of the match from its anchor on:
# "before" contexts see the words in front of the anchor (如何防范电信{HIT}, 我不会{HIT}), "after" ones
# what follows the whole match ("immigrants are criminals{HIT} … is a myth").
HIT_OPEN, HIT_CLOSE = "\ue000", "\ue001"
_REF = re.compile(r"\{(@?)([A-Za-z_][A-Za-z0-9_]*)(?::(\d+))?\}")
_LATIN = "0-9A-Za-z\u00c0-\u024f"
_AT_ANCHOR = re.compile(r"(?:\(\?<!\[[^\]]*\]\))?\{@(?=[A-Za-z_][A-Za-z0-9_]*\})")  # opens with its anchor
_LEAD = re.compile(r"(?:\(\?<!\[[^\]]*\]\))?\{([A-Za-z_][A-Za-z0-9_]*)\}(?![?*]|\{0)")  # opens with a {slot}


@dataclass
class RuleFiles:
    """The files rules are read from: the shipped ones plus the user's."""
    terms: dict[str, list[str]] = field(default_factory=dict)       # category -> lexicon files
    patterns: dict[str, list[str]] = field(default_factory=dict)    # category -> pattern files
    slots: dict[str, list[str]] = field(default_factory=dict)       # slot -> extra phrase files
    contexts: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)

    @classmethod
    def shipped(cls, categories: list[str]) -> "RuleFiles":
        root = shipped_dir("safety")
        files = cls(allow=[str(root / "allow.txt")], contexts=[str(root / "context.txt")])
        for c in categories:
            files.terms[c] = [str(root / f"{c}.txt")]
            pattern_file = root / "patterns" / f"{c}.txt"
            files.patterns[c] = [str(pattern_file)] if pattern_file.is_file() else []
        return files

    def extend(self, other: "RuleFiles") -> "RuleFiles":
        for mine, theirs in ((self.terms, other.terms), (self.patterns, other.patterns), (self.slots, other.slots)):
            for key, paths in theirs.items():
                mine.setdefault(key, []).extend(paths)
        self.contexts += other.contexts
        self.allow += other.allow
        return self


def _rule_lines(path: str) -> list[tuple[str, str, str]]:
    """(family, regex source, "file:line") of a `family: regex` file."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"safety rule file not found: {path}", "one `family: regex` per line") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        family, sep, source = line.partition(":")
        if not sep or not re.fullmatch(r"[a-z_]+( inside)?", family.strip()):
            raise ConfigError(f"{path}:{n}: not `family: regex`: {line.strip()[:80]}",
                              "start the line with a lower-case family name and a colon")
        out.append((family.strip(), source.strip(), f"{path}:{n}"))
    return out


class Rules:
    """Rule files read and compiled: an automaton for anchors and terms, regexes per anchor slot."""

    def __init__(self, files: RuleFiles) -> None:
        self._slot_files = files.slots
        self._slots: dict[str, list[str]] = {}
        entries: list[tuple[str, str]] = []
        for category, paths in files.terms.items():
            entries += [(p, f"term:{category}") for path in paths for p in read_lexicon(path)]
        # anchor slot -> (category, family, regex, scripts it needs, regex of its leading slot or None)
        self.by_anchor: dict[str, list[tuple]] = {}
        leads: dict[str, re.Pattern] = {}
        for category, paths in files.patterns.items():
            for path in paths:
                for family, source, where in _rule_lines(path):
                    anchors: list[str] = []
                    regex = self._compile(source, where, anchors)
                    if len(anchors) != 1:
                        raise ConfigError(f"{where}: a pattern needs exactly one {{@anchor}} slot, found {len(anchors)}",
                                          "mark the word list that must be present with @, e.g. {@harm_en}")
                    # Where a match can start: at the anchor itself ({@group_en} are…), at its leading
                    # word list ({self_en}{will_en}… {@harm_en}), or anywhere (then it is searched for).
                    lead = _LEAD.match(source)
                    if lead and lead.group(1) not in leads:
                        leads[lead.group(1)] = self._compile("{%s}" % lead.group(1), where, [])
                    at_anchor = _AT_ANCHOR.match(source)
                    # What follows the anchor must match right after it: a cheap test before the whole pattern.
                    rest = _rest_after_anchor(source)
                    rest = self._compile(rest, where, []) if rest is not None else None
                    if at_anchor and rest is not None:  # the automaton already found the anchor: only what follows it is matched
                        start = ("anchor", rest, rest)
                    else:
                        start = ("lead", leads[lead.group(1)], rest) if lead else ("search", None, rest)
                    self.by_anchor.setdefault(anchors[0], []).append(
                        (category, family, regex, _scripts(regex.pattern), start))
        for slot in self.by_anchor:
            bad = [p for p in self._slot(slot, "anchor") if p.startswith("re:")]
            if bad:
                raise ConfigError(f"anchor slot '{slot}' has regex entries ({bad[0]})",
                                  "an anchor's entries are plain phrases, so the automaton can find them")
            entries += [(p, f"@{slot}") for p in self._slot(slot, "anchor")]
        self.contexts: list[tuple[str, bool, re.Pattern, tuple[bool, bool]]] = []
        for path in files.contexts:
            for family, source, where in _rule_lines(path):
                inside = family.endswith(" inside")
                regex = self._compile(source, where, [])
                self.contexts.append((family.removesuffix(" inside"), inside, regex, _scripts(regex.pattern)))
        # An instruction asking for or about fiction (a story, a film's plot): the step flags instead of dropping.
        self.fiction_request = self._compile("{fiction_request}", "slots/fiction_request.txt", [])
        entries += [(p, "allow") for path in files.allow for p in read_lexicon(path)]
        self.matcher = PhraseMatcher(entries)
        self.boundaries = TermBoundaries(p for p, _ in entries)

    def _slot(self, name: str, where: str) -> list[str]:
        if name not in self._slots:
            path = shipped_dir("safety") / "slots" / f"{name}.txt"
            paths = ([str(path)] if path.is_file() else []) + self._slot_files.get(name, [])
            if not paths:
                raise ConfigError(f"{where}: unknown slot {{{name}}}",
                                  f"add slots/{name}.txt, or give its file in safety.slots")
            self._slots[name] = [p for f in paths for p in read_lexicon(f)]
        return self._slots[name]

    def _compile(self, source: str, where: str, anchors: list[str]) -> re.Pattern:
        depth: list[str] = []   # slots being expanded: a `re:` entry may name other slots

        def expand(m: re.Match) -> str:
            anchor, name, number = m.groups()
            if name in ("clause", "sent"):
                chars = r"[^，,。.！!？?；;：:\n]" if name == "clause" else r"[^。！!？?\n]"
                return f"{chars}{{0,{int(number or 8)}}}?"
            if name == "HIT":
                return f"{HIT_OPEN}[^{HIT_CLOSE}]*{HIT_CLOSE}"
            if name == "HIT_ED":   # the anchor is a past participle: "were {HIT_ED}" (molested, abused)
                return f"{HIT_OPEN}[^{HIT_CLOSE}]*(?:ed|en){HIT_CLOSE}"
            entries = sorted(self._slot(name, where), key=len, reverse=True)
            depth.append(name)
            if len(depth) > 8:
                raise ConfigError(f"{where}: slots refer to each other in a loop ({' -> '.join(depth)})",
                                  "a `re:` entry may name other slots, but not itself")
            alternatives = "|".join(_REF.sub(expand, _entry_regex(p)) if p.startswith("re:") else _entry_regex(p)
                                    for p in entries)
            depth.pop()
            if anchor:
                anchors.append(name)
                return f"(?P<a>{alternatives})"
            return f"(?:{alternatives})"

        try:
            return re.compile(_REF.sub(expand, source), re.IGNORECASE)
        except re.error as e:
            raise ConfigError(f"{where}: bad regex ({e})", "check the brackets and escapes of the pattern") from None


def _rest_after_anchor(source: str) -> str | None:
    """The part of a pattern after its {@anchor}, when the anchor stands outside any group (so that
    what follows it in every match is exactly that part); None otherwise."""
    at = source.index("{@")
    bare = re.sub(r"\\.|\[(?:\\.|[^\]])*\]", "_", source[:at])
    if bare.count("(") != bare.count(")"):
        return None
    return source[at:].split("}", 1)[1]


def _scripts(pattern: str) -> tuple[bool, bool]:
    """(needs Latin text, needs Chinese text): a regex whose every literal is English cannot match a
    sentence without Latin letters, and one written only in Chinese none without Chinese. Literals are
    what remains outside character classes and escapes; a regex with both kinds needs neither."""
    bare = re.sub(r"\\.|\[(?:\\.|[^\]])*\]|\(\?<?[=!:]|\(\?P<\w+>", "", pattern)
    latin, cjk = re.search("[A-Za-z]{3}", bare) is not None, has_cjk(bare)
    return (latin and not cjk, cjk and not latin)


def _entry_regex(phrase: str) -> str:
    """A slot entry as a regex: plain phrases escaped, Latin edges bounded, `word*` a prefix."""
    if phrase.startswith("re:"):
        return f"(?:{phrase[3:]})"
    prefix = phrase.endswith("*")
    text = phrase.rstrip("*").strip()
    body = re.escape(text).replace(r"\ ", r"\s+")
    if prefix:
        body += rf"[{_LATIN}]*"
    if re.match(f"[{_LATIN}]", text):
        body = rf"(?<![{_LATIN}])" + body
    if not prefix and re.search(f"[{_LATIN}]$", text):
        body += rf"(?![{_LATIN}])"
    return body
