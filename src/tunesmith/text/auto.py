"""The `auto` template: the tokenizer's own Jinja chat template, cut into pieces by rendering the
conversation one turn at a time and taking the difference of the texts.

Turn i's pieces are render(turns[:i+1]) minus render(turns[:i]) (with the generation prompt after a
user turn), so the prompt a model gets at inference is by construction the start of its training
text. Where an answer ends is learnt once per tokenizer, by rendering an answer made of a sentinel:
what follows the sentinel is the end-of-turn text; the first special token in it is the end token
(trained), the rest is glue between turns (not trained). Each turn's own text is located the same
way (a sentinel in its place), so the template's special-token strings become token ids while the
records' text stays text: "</s>" typed in a record is never an end token. A template that rewrites earlier turns when
a later one is added, or ends answers without a special token, is refused with the reason, rather
than trained on silently wrong masks.
"""

from __future__ import annotations

import re

from tunesmith.records.example import Turn
from tunesmith.errors import ConfigError, DataError
from tunesmith.text.template_base import Piece, Template, register

_SENTINEL = "\u2063TUNESMITH-ANSWER\u2063"


@register
class AutoTemplate(Template):
    name = "auto"

    def __init__(self, tokenizer):
        super().__init__(tokenizer)
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError("template auto: this tokenizer has no chat template (a base model?)",
                              "choose the template the model should learn: --template alpaca, llama2, llama2-zh "
                              "or chatml (template.name in a run config)")
        self.tokenizer = tokenizer
        suffix = self._answer_suffix()
        specials = sorted({t for t in _special_strings(tokenizer) if t in suffix},
                          key=lambda t: (suffix.index(t), -len(t)))
        if not specials:
            raise ConfigError(f"template auto: the chat template ends an answer with {suffix!r}, which holds no "
                              "special token, so the model could not learn to stop",
                              "choose --template chatml, llama2 or alpaca, which end every answer with EOS")
        end = specials[0]
        cut = suffix.index(end) + len(end)
        self.before_end, self.end_text, self.glue = suffix[:suffix.index(end)], end, suffix[cut:]
        self.suffix = suffix
        self.end_id = tokenizer.convert_tokens_to_ids(end)
        strings = sorted(set(_special_strings(tokenizer)), key=len, reverse=True)
        self._special_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in strings}
        self._special_re = re.compile("(" + "|".join(map(re.escape, strings)) + ")")

    def _render(self, messages: list[dict], generation: bool) -> str:
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
        except Exception as e:  # jinja raises its own errors (e.g. "roles must alternate")
            raise DataError(f"template auto: the tokenizer's chat template failed: {e}",
                            "check the record's roles, or choose a built-in template") from None

    def _answer_suffix(self) -> str:
        text = self._render([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _SENTINEL}], False)
        if _SENTINEL not in text:
            raise ConfigError("template auto: the chat template does not show the assistant's answer",
                              "choose a built-in template")
        return text[text.rindex(_SENTINEL) + len(_SENTINEL):]

    def turn_pieces(self, system: str | None, turns: list[Turn]) -> list[list[Piece]]:
        messages = [{"role": "system", "content": system}] if system is not None else []
        before, out = "", []
        for i, turn in enumerate(turns):
            generation = turn.role == "user"
            messages.append({"role": turn.role, "content": turn.text})
            text = self._render(messages, generation)
            if not text.startswith(before):
                raise ConfigError(f"template auto: adding turn {i + 1} changes how the earlier turns render, so "
                                  "the inference prompt would not be the start of the training text",
                                  "choose a built-in template (chatml, llama2, llama2-zh, alpaca)")
            delta = text[len(before):]
            pre, content, post = self._split_content(messages, before, delta, generation)
            before = text
            if turn.role == "user":
                out.append(self._template_text(pre) + [Piece(content)] + self._template_text(post))
                continue
            if not delta.endswith(self.suffix):
                raise ConfigError(f"template auto: answer {i + 1} does not end with {self.suffix!r} as the template's "
                                  "other answers do", "choose a built-in template")
            # Everything up to the end token is the answer; after it comes untrained glue.
            post_answer = post[:len(post) - len(self.suffix)] + self.before_end
            pieces = (self._template_text(pre, "answer") + [Piece(content, role="answer")]
                      + self._template_text(post_answer, "answer"))
            pieces.append(Piece(token_id=self.end_id, role="end"))
            pieces += self._template_text(self.glue, "glue")
            out.append(pieces)
        return out

    def _split_content(self, messages: list[dict], before: str, delta: str, generation: bool):
        """(template text before, the turn's text as rendered, template text after) within `delta`.

        Found by rendering the turn with a sentinel as its text, so that the record's own text is
        always tokenized as text: a "</s>" or "<|im_end|>" written in the data never becomes a token.
        """
        probe = self._render(messages[:-1] + [{**messages[-1], "content": _SENTINEL}], generation)
        if probe.startswith(before) and probe.count(_SENTINEL) == 1:
            pre, post = probe[len(before):].split(_SENTINEL)
            if delta.startswith(pre) and delta.endswith(post) and len(pre) + len(post) <= len(delta):
                return pre, delta[len(pre):len(delta) - len(post)], post
        # A template that treats the sentinel differently from the text: fall back to treating the
        # whole turn as template text (as apply_chat_template itself does).
        return delta, "", ""

    def _template_text(self, text: str, role: str = "prompt") -> list[Piece]:
        """Template text with its special-token strings as token ids."""
        pieces = []
        for part in self._special_re.split(text) if text else []:
            if part in self._special_ids:
                pieces.append(Piece(token_id=self._special_ids[part], role=role))
            elif part:
                pieces.append(Piece(part, role=role))
        return pieces

    def end_ids(self) -> list[int]:
        return list(dict.fromkeys([self.end_id, self.eos]))


def _special_strings(tokenizer) -> list[str]:
    found = list(getattr(tokenizer, "all_special_tokens", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    found += [t.content for t in decoder.values() if getattr(t, "special", False)]
    return [t for t in found if t]
