"""What the LLM is asked: one question per passage, and optionally an answer grounded in it.

The Chinese default is the chapter's own wording, "请你为这段内容生成一个合理的问题", after the
passage, with the one instruction a model needs to reply with just the question. A template is plain text with
`{passage}` (and, for answers, `{question}`) where those go; other braces are left alone, so
templates may contain JSON or code.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from tunesmith.errors import ConfigError

# The passage first and the request last: small models follow the instruction they read last. Measured
# with SmolLM2-135M-Instruct on 4-5 English passages: instruction first, 0/5 replies were questions
# (it commented on the passage or echoed the instructions); passage first, 4/4 were.
QUESTION = {
    "zh": "{passage}\n\n请你为这段内容生成一个合理的问题。只输出问题本身。",
    "en": "{passage}\n\nWrite one question that the text above answers. Reply with only the question.",
}
ANSWER = {
    "zh": "{passage}\n\n请只根据上面的内容回答下面的问题，内容里没有的信息不要编造。\n问题：{question}",
    "en": "{passage}\n\nAnswer the question below using only the text above; do not add facts that are not "
          "in it.\nQuestion: {question}",
}
LANGUAGES = ("zh", "en")

_PLACEHOLDER = regex.compile(r"\{(passage|question)\}")
_HAN = regex.compile(r"\p{Han}")
_LETTER = regex.compile(r"[\p{Han}\p{Latin}]")


def detect_language(text: str) -> str:
    """'zh' when at least a fifth of the letters are Chinese characters, else 'en'.

    A fifth, not a half: Chinese text with English names, units and code in it is still Chinese,
    while one counts a Latin word as several letters.
    """
    letters = len(_LETTER.findall(text))
    return "zh" if letters and len(_HAN.findall(text)) / letters >= 0.2 else "en"


@dataclass(frozen=True)
class Prompts:
    language: str = "auto"              # auto, zh or en
    question: str | None = None         # custom template for every language; None = built-in
    answer: str | None = None
    system: str | None = None

    def __post_init__(self):
        if self.language not in ("auto", *LANGUAGES):
            raise ConfigError(f"prompts.language '{self.language}' is not one of auto, zh, en")
        check_template("prompts.question", self.question, ("{passage}",))
        check_template("prompts.answer", self.answer, ("{passage}", "{question}"))

    def language_of(self, passage: str) -> str:
        return detect_language(passage) if self.language == "auto" else self.language

    def question_messages(self, passage: str) -> list[dict]:
        template = self.question or QUESTION[self.language_of(passage)]
        return self._messages(fill(template, passage=passage))

    def answer_messages(self, passage: str, question: str) -> list[dict]:
        template = self.answer or ANSWER[self.language_of(passage)]
        return self._messages(fill(template, passage=passage, question=question))

    def _messages(self, user: str) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + [{"role": "user", "content": user}]


def fill(template: str, **values: str) -> str:
    """Put each value where its {name} is, in one pass: a passage that contains "{question}" stays as written."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


def check_template(key: str, template: str | None, needs: tuple[str, ...]) -> None:
    if template is None:
        return
    missing = [n for n in needs if n not in template]
    if missing:
        raise ConfigError(f"{key} lacks {' and '.join(missing)}",
                          "mark where the text goes, e.g. 'Write a question about this text:\\n\\n{passage}'")
