"""Built-in checks on what the LLM wrote, as data steps (each drop counted and kept with its reason).

Models asked for "a question" also answer with a preamble ("Question: ..."), a numbered list, the
passage copied back, a statement, or nothing. `clean_question` keeps the question out of such
replies; `QuestionCheck` drops what is still not a usable question; `AnswerCheck` drops empty
answers and answers that say the passage does not answer the question. Deeper quality filtering is
`data prepare`'s job: its dedup and filters take these records as they are.
"""

from __future__ import annotations

import difflib

import regex

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop, Step

_THINK = regex.compile(r"<think>.*?(?:</think>|$)", regex.S | regex.I)
_PREFIX = regex.compile(
    r"^\s*(?:[-*•#>]+\s*|\(?\d{1,2}[.)、．]\s*|\*\*|"
    r"(?:问题|问|提问|题目|question|q)\s*(?:\d+\s*)?[:：]\s*|\*\*)+", regex.I)
_QUOTES = "\"'“”‘’「」『』`*"
_QUESTION_MARK = regex.compile(r"[?？]")
# Interrogative words: a Chinese question may end in 。 or nothing and still ask something.
_ZH_ASKS = regex.compile(r"什么|为什么|为何|如何|怎么|怎样|哪|谁|多少|几[个种年月天次]|是否|是不是|有没有|能否|可否|"
                         r"吗|呢|请(?:问|简述|说明|解释|描述|列举|概括|比较|分析)|简述|试述|说明一下|列举")
_EN_ASKS = regex.compile(
    r"^(?:what|why|how|when|where|which|who|whom|whose|is|are|was|were|do|does|did|can|could|should|would|"
    r"will|has|have|had|may|might|must|shall|explain|describe|list|summari[sz]e|compare|name|give|identify|"
    r"outline|according to|in what|based on)\b", regex.I)
_UNANSWERED = regex.compile(
    r"(?:passage|text|context) (?:does not|doesn't|did not) (?:mention|say|state|provide|contain|specify)|"
    r"not (?:mentioned|stated|provided|specified|given) in the (?:provided |given |above )?(?:passage|text|context)|"
    r"(?:内容|文中|原文|文本|材料|段落)(?:中|里)?(?:并)?(?:没有|未)(?:提到|提及|说明|给出|涉及)|无法(?:根据|从)")
_NOT_TEXT = regex.compile(r"[\s\p{P}\p{S}]+")


def clean_question(reply: str) -> str:
    """The question in an LLM reply: reasoning blocks, prefixes, numbering and quotes removed;
    from a multi-line reply, the first line that asks something (else the first line)."""
    lines = []
    for line in _THINK.sub("", reply).splitlines():
        line = _PREFIX.sub("", line).strip().strip(_QUOTES).strip()
        if line:
            lines.append(line)
    if not lines:
        return ""
    return next((line for line in lines if is_question(line)), lines[0])


def clean_answer(reply: str) -> str:
    text = _THINK.sub("", reply).strip()
    return regex.sub(r"^(?:答案|回答|答|answer|a)\s*[:：]\s*", "", text, flags=regex.I).strip()


def is_question(text: str) -> bool:
    text = text.strip()
    return bool(_QUESTION_MARK.search(text) or _EN_ASKS.match(text)
                or (regex.search(r"\p{Han}", text) and _ZH_ASKS.search(text)))


def _bare(text: str) -> str:
    """Letters and digits only, lower-cased: what "the same text" means for the copy check."""
    return _NOT_TEXT.sub("", text).lower()


def copies_passage(question: str, passage: str, fuzzy: bool = True) -> bool:
    """The question is the passage, holds it, or is one of its sentences; with `fuzzy`, also a close
    paraphrase of it (difflib: quadratic, only for questions of bounded length)."""
    q, p = _bare(question), _bare(passage)
    if not q or not p:
        return False
    if p in q:                                   # the whole passage, maybe with a question tacked on
        return True
    if len(q) >= 10 and q in p:                  # a sentence of the passage handed back as the "question"
        return True
    return fuzzy and len(q) >= 0.5 * len(p) and difflib.SequenceMatcher(None, q, p, autojunk=False).ratio() >= 0.8


class QuestionCheck(Step):
    """Drops empty questions, copies of the passage, statements, and runaway generations."""

    name = "synth-question"

    def __init__(self, max_chars: int = 300):
        super().__init__()
        self.max_chars = max_chars

    def apply(self, example: Example) -> Example | Drop:
        question, passage = example.instruction, (example.meta.get("synth") or {}).get("passage", "")
        # Length first: the fuzzy copy check (difflib) is quadratic, and a runaway reply of megabytes would
        # hold every worker on the lock the checks share. A long reply that holds the passage is still a copy
        # (found by substring search, linear).
        if len(question) > self.max_chars:
            if copies_passage(question, passage, fuzzy=False):
                return Drop("copies_passage", question[:120])
            return Drop("question_too_long", f"{len(question)} chars > {self.max_chars}")
        if len(_bare(question)) < 2:
            return Drop("empty_question", repr(question[:80]))
        if copies_passage(question, passage):
            return Drop("copies_passage", question[:120])
        if not is_question(question):
            return Drop("not_a_question", question[:120])
        return example


class AnswerCheck(Step):
    """Drops empty answers and answers that say the passage has no answer."""

    name = "synth-answer"

    def apply(self, example: Example) -> Example | Drop:
        answer = example.output
        if len(_bare(answer)) < 1:
            return Drop("empty_answer", repr(answer[:80]))
        if _UNANSWERED.search(answer):
            return Drop("unanswered", answer[:120])
        return example
