"""`machine_text` (过滤机器生成文本): answers copied from a chat model that talks about itself.

The contract: drop an answer in which the distilling model speaks as a model (its identity, what it
cannot do, its knowledge cutoff, its refusals, its "no output" notes); never drop text that was asked
for, however much it looks like that; keep and flag what a rule cannot tell.

How one hit of a pattern family (machine_patterns.py) is weighed, by where it stands and what was asked
(machine_context.py):

  hit                                  | decision
  ------------------------------------ | ----------------------------------------------------------------
  in a quote, a character's line, or   | content: keep
  words the instruction/input gave     |
  self-identity in an identity record  | keep (`keep_self_identity`): "我是 {{name}}，由 {{author}} 开发…"
  any, in a record that declares tools | keep (`keep_tool_boundaries`): declining what no tool does is
                                       | what function-calling data teaches; self-identity is flagged
  strong (identity, knowledge cutoff)  | drop anywhere, unless the instruction asked for content about a
                                       | machine ("a story told by a robot"); 作为…AI… and "as an AI…"
                                       | count only with 我 / I / my in the same sentence
  weak (capability, apology+refusal)   | a rewrite/translation of text that itself apologises, or a
                                       | requested piece (poem, dialogue, letter, role-play) unless the
                                       | refusal is of the piece itself ("I can't write that"): keep.
                                       | A hedge ("抱歉，我无法确定…" then the answer), a request for the
                                       | record's missing input, a refusal further in, or one of
                                       | something anyone might refuse ("I cannot attend"): flag.
                                       | Refusing assistant work (look up, access, send, help, write)
                                       | in the opening sentence: drop
  canned empty answer ("<nooutput>",   | drop; flag when the question asks what a program prints, or the
  "无输出", "GPT 模型无法…")            | answer is a bare "N/A"/"不适用"

Translationese (`translationese_min`) is experimental and off by default: on a labelled set of machine
translated and natural Chinese (tests/data/machine_text/translationese.jsonl) its markers find too few
translations at any useful precision (see benchmarks/machine_text_eval.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex
from pydantic import Field, field_validator

from tunesmith.records.example import Example, FieldName, Turn
from tunesmith.prepare.steps.base import Drop, Step, StepOptions
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.lexicon import PhraseMatcher, read_lexicon, shipped
from tunesmith.prepare.steps.machine_context import Answer, Request
from tunesmith.prepare.steps import machine_patterns as mp


class MachineTextOptions(StepOptions):
    fields: list[FieldName] = Field(default_factory=lambda: ["output"], description=(
        "Texts searched: the answers, usually (each is judged against the instruction it answers)."))
    categories: list[str] = Field(default_factory=lambda: list(mp.CATEGORIES), description=(
        "Pattern families that drop: ai_identity (\"作为一个人工智能语言模型，我…\", \"As an AI language model\",\n"
        "\"我没有实体\", \"I don't have personal opinions\"), refusal (\"抱歉，我无法…\", \"I'm sorry, but I can't…\"),\n"
        "knowledge_cutoff (\"as of my last update\", \"截至我的知识…\"), no_output (\"<nooutput>\", \"无输出\",\n"
        "\"不适用（GPT 模型无法…）\")."))
    keep_self_identity: bool = Field(True, description=(
        "Keep answers in which the assistant introduces itself by name or maker when asked who it is\n"
        "(\"你是谁\", \"who made you\", greetings), or that carry identity placeholders ({{name}}, {{author}}):\n"
        "identity-tuning data, where self-identification is the point. Generic \"As an AI language model\"\n"
        "boilerplate is still dropped."))
    keep_tool_boundaries: bool = Field(True, description=(
        "In records that declare tools (function calling), keep answers that decline what no tool can do\n"
        "(\"抱歉，我无法帮您订机票，我只能查询股价\"): teaching that boundary is the data's point. Model\n"
        "self-identity in them is flagged, not dropped."))
    phrases: list[str] = Field(default_factory=list, description="Your own phrases that drop a record on one hit.")
    lexicons: list[str] = Field(default_factory=list, description="Your own phrase files (one phrase per line).")
    rejected: Literal["flag", "drop"] = Field("flag", description=(
        "Preference pairs, when a rule fires on the REJECTED answer only: flag (keep the pair; a rejected answer\n"
        "full of AI boilerplate, a refusal or a loop is the contrast preference tuning learns from) or drop.\n"
        "A rule firing on the chosen answer always drops the pair."))
    translationese_min: int = Field(0, ge=0, description=(
        "Experimental, off (0): drop when this many different translationese markers appear. On our labelled\n"
        "machine-translated Chinese its markers catch few translations; measure on your data before using it."))

    @field_validator("categories")
    @classmethod
    def _known(cls, v):
        bad = [c for c in v if c not in mp.CATEGORIES]
        if bad:
            raise ValueError(f"unknown categories {bad}; shipped: {list(mp.CATEGORIES)}")
        return v


@dataclass(frozen=True)
class _Hit:
    family: mp.Family
    start: int
    end: int
    phrase: str
    task_refusal: bool  # refuses the task itself: "I can't write that", not a character's "I can't come"
    work: bool          # refuses an assistant's work (to look up, access, send...), not something anyone might
    hedge: bool = False  # "抱歉，我无法确定…": refuses to be sure, then answers


@register
class MachineTextStep(Step):
    """Drop chat-model self-talk where it stands as the model's own words; keep requested content."""

    name = "machine_text"
    Options = MachineTextOptions

    def __init__(self, options: MachineTextOptions | None = None) -> None:
        super().__init__(options)
        o = self.options
        # Strong families first: one strong hit decides the record.
        self._patterns = [(f, p) for f in sorted(mp.FAMILIES, key=lambda f: not f.strong) if f.reason in o.categories
                          for p in f.patterns]
        self._prefilter = PhraseMatcher([(t, i) for i, (_, p) in enumerate(self._patterns) for t in p.triggers]
                                        + [(w, _AI_WORD) for w in mp.AI_WORDS])
        self._no_output = "no_output" in o.categories
        custom = [(p, "custom") for p in o.phrases] + [(p, "custom") for path in o.lexicons for p in read_lexicon(path)]
        self._custom = PhraseMatcher(custom) if custom else None
        self._translationese = (PhraseMatcher((p, "translationese") for p in shipped("machine", "translationese"))
                                if o.translationese_min else None)
        self._fields = tuple(o.fields)

    # -- the record ---------------------------------------------------------------------------------
    def apply(self, example: Example) -> Example | Drop:
        markers: set[str] = set()
        flags: dict[str, str] = {}
        tools = self.options.keep_tool_boundaries and _declares_tools(example)
        texts = self._texts(example)
        # A pair's rejected answer comes last: AI talk there is what the pair teaches to avoid (`rejected: flag`).
        rejected_at = len(texts) - 1 if self._reads_rejected(example) and self.options.rejected == "flag" else None
        for at, (text, asked) in enumerate(texts):
            if not text:
                continue
            verdict = None
            if self._custom is not None:
                for m in self._custom.find(text):
                    verdict = Drop("custom", m.phrase)
                    break
            verdict = verdict or self._judge(text, asked, tools)
            if isinstance(verdict, Drop) and at == rejected_at:
                flags.setdefault(f"rejected:{verdict.reason}", verdict.detail)
                continue
            if isinstance(verdict, Drop):
                self.stats.counts[verdict.reason] += 1
                return verdict
            if verdict:
                flags.setdefault(*verdict)
            if self._translationese is not None:
                markers.update(m.phrase for m in self._translationese.find(text))
        if self._translationese is not None and len(markers) >= self.options.translationese_min:
            self.stats.counts["translationese"] += 1
            return Drop("translationese", ", ".join(sorted(markers)))
        for reason, detail in flags.items():
            self.flag(example, reason, detail)
        return example

    def _reads_rejected(self, example: Example) -> bool:
        return example.rejected is not None and ("all" in self._fields or "output" in self._fields)

    def _texts(self, example: Example) -> list[tuple[str, Turn | None]]:
        """(text, the user turn it answers): each chosen answer with the user turn before it; any other
        chosen text (system, instruction, input) with none."""
        turns = example.turns
        # A pair's rejected answer replies to the same user turn as the chosen one: read with "output".
        other = example.rejected.content if self._reads_rejected(example) else None
        if self._fields == ("output",):  # the default: the last answer only
            for i in range(len(turns) - 1, -1, -1):
                if turns[i].role == "assistant":
                    asked = turns[i - 1] if i and turns[i - 1].role == "user" else None
                    return [(turns[i].content, asked)] + ([(other, asked)] if other is not None else [])
            return []
        fields, every = self._fields, "all" in self._fields
        out: list[tuple[str, Turn | None]] = []
        if (every or "system" in fields) and example.system:
            out.append((example.system, None))
        last_user = max((i for i, t in enumerate(turns) if t.role == "user"), default=None)
        last_answer = max((i for i, t in enumerate(turns) if t.role == "assistant"), default=None)
        for i, turn in enumerate(turns):
            if turn.role == "assistant":
                if every or ("output" in fields and i == last_answer):
                    out.append((turn.content, turns[i - 1] if i and turns[i - 1].role == "user" else None))
            elif every or ("instruction" in fields and i == last_user):
                out.append((turn.content, None))
            if turn.input and (every or ("input" in fields and i == last_user)):
                out.append((turn.input, None))
        if other is not None and last_answer is not None:
            out.append((other, turns[last_answer - 1] if last_answer and turns[last_answer - 1].role == "user" else None))
        return out

    # -- one text ---------------------------------------------------------------------------------
    def _judge(self, text: str, asked: Turn | None, tools: bool = False) -> Drop | tuple[str, str] | None:
        """A Drop, a (reason, detail) flag, or None (keep as it is)."""
        if self._no_output and len(text) <= mp.CANNED_MAX_CHARS:
            canned = self._canned(text, asked)
            if canned is not None:
                return canned
        found = self._prefilter.find(text)
        if not found:
            return None
        hits = self._hits(text, found)
        if not hits:
            return None
        request = Request(asked.content, asked.input or "", tools) if asked else Request("", tools=tools)
        answer = Answer(text)
        flag = None
        for hit in hits:  # strong families first
            verdict = self._weigh(hit, answer, request)
            if isinstance(verdict, Drop):
                return verdict
            flag = flag or verdict
        return flag

    def _hits(self, text: str, found) -> list[_Hit]:
        """Each pattern tried only where one of its trigger words stands, strong families first."""
        seen: dict[int, int] = {}  # pattern -> end of its last match (overlapping triggers try it once)
        ai_word = any(m.category == _AI_WORD for m in found)
        hits = []
        for trigger in sorted(found, key=lambda m: (m.category, m.start)):
            index = trigger.category
            if index == _AI_WORD or trigger.start < seen.get(index, -1):
                continue
            family, pattern = self._patterns[index]
            if pattern.needs_ai_word and not ai_word:
                continue
            if pattern.back:
                m = pattern.regex.search(text, max(0, trigger.start - pattern.back), trigger.end)
            else:
                m = pattern.regex.match(text, trigger.start)
            if m is None or (pattern.first_person and not _first_person(text, m)):
                continue
            seen[index] = m.end()
            groups = m.groupdict()
            verb = groups.get("verb") or ""
            hedge = bool(verb and mp.EPISTEMIC.search(verb))
            task = not hedge and (pattern.task_refusal or bool(verb and mp.TASK_VERB.search(verb)))
            # what it refuses is the assistant's work (patterns without a verb say so by themselves)
            work = "verb" not in groups or task or bool(mp.WORK_VERB.search(verb)) or bool(_LACKS.search(m.group(0)))
            hits.append(_Hit(family, m.start(), m.end(), m.group(0), task, work, hedge))
        return hits

    def _weigh(self, hit: _Hit, answer: Answer, request: Request) -> Drop | tuple[str, str] | None:
        family, phrase = hit.family, hit.phrase.strip()
        if answer.in_quote(hit.start) or answer.speaker_line(hit.start, request.content) or request.echoes(phrase):
            return None
        if family.reason in ("ai_identity", "knowledge_cutoff") and self.options.keep_self_identity \
                and _self_identity(answer, request):
            return None
        if request.tools:  # a function-calling record: declining what no tool does is what it teaches
            return (family.reason, f"tool record: {phrase}") if family.strong else None
        if family.strong:
            if request.content and request.mentions_ai:
                return None
            return Drop(family.reason, phrase)
        if request.renders_refusal or (request.compose and not hit.task_refusal):
            return None
        if hit.hedge:
            return family.reason, f"hedge: {phrase}"
        if answer.asks_for_input:
            return "asks_for_input", phrase
        if not answer.at_opening(hit.start):
            return family.reason, f"mid-answer: {phrase}"
        if not hit.work:
            return family.reason, f"refuses something else: {phrase}"
        return Drop(family.reason, phrase)

    def _canned(self, text: str, asked: Turn | None) -> Drop | tuple[str, str] | None:
        """Alpaca's empty answers: "<nooutput>", "无输出", "不适用（GPT 模型无法…）"."""
        bare = text.strip().rstrip("。.!！").strip().lower()
        if mp.GPT_CANNOT.match(text):
            return Drop("no_output", text.strip())
        if bare in mp.CANNED_EMPTY or bare.replace(" ", "") in mp.CANNED_EMPTY:
            if asked is not None and Request(asked.content, asked.input or "").asks_program_output:
                return "no_output", f"program prints nothing? {text.strip()}"
            return Drop("no_output", text.strip())
        if bare in mp.BARE_NOT_APPLICABLE:
            return "no_output", text.strip()
        return None


_AI_WORD = -1  # the prefilter's category for mp.AI_WORDS
_LACKS = regex.compile(r"\bhave\s+(?:the\s+)?(?:ability|capability|capacity|means|access)\b|没有|不具备", regex.I)


def _first_person(text: str, m) -> bool:
    return Answer(text).first_person_near(m.start(), m.end())


def _declares_tools(example: Example) -> bool:
    tools = example.meta.get("tools")
    return bool(tools) and (not isinstance(tools, str) or tools.strip() not in ("[]", "{}", "null"))


def _self_identity(answer: Answer, request: Request) -> bool:
    """The assistant introduces itself, as identity-tuning data does: placeholders, or a name/maker
    when it was asked who it is."""
    return ("{{" in answer.text or request.identity_question) and answer.self_introduction
