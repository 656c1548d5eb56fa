"""The `auto` template: the tokenizer's own Jinja chat template, cut into pieces by rendering the
conversation one turn at a time and taking the difference of the texts.

Turn i's pieces are render(turns[:i+1]) minus render(turns[:i]) (with the generation prompt after a
user turn), so the prompt a model gets at inference is by construction the start of its training
text. Where an answer ends is learnt once per tokenizer, by rendering an answer made of a sentinel:
what follows the sentinel is the end-of-turn text; the first special token in it is the end token
(trained), the rest is glue between turns (not trained). A template that rewrites earlier turns when
a later one is added, or ends answers without a special token, is refused with the reason, rather
than trained on silently wrong masks.
"""

from __future__ import annotations

from tunesmith.data.example import Turn
from tunesmith.errors import ConfigError, DataError
from tunesmith.text.templates import Piece, Template

_SENTINEL = "\u2063TUNESMITH-ANSWER\u2063"


class AutoTemplate(Template):
    name = "auto"
    parse_special = True

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
            messages.append({"role": turn.role, "content": turn.text})
            text = self._render(messages, generation=(turn.role == "user"))
            if not text.startswith(before):
                raise ConfigError(f"template auto: adding turn {i + 1} changes how the earlier turns render, so "
                                  "the inference prompt would not be the start of the training text",
                                  "choose a built-in template (chatml, llama2, llama2-zh, alpaca)")
            delta = text[len(before):]
            before = text
            if turn.role == "user":
                out.append([Piece(delta)])
                continue
            if not delta.endswith(self.suffix):
                raise ConfigError(f"template auto: answer {i + 1} does not end with {self.suffix!r} as the template's "
                                  "other answers do", "choose a built-in template")
            answer = delta[:len(delta) - len(self.suffix)] + self.before_end
            pieces = [Piece(answer, role="answer")] if answer else []
            pieces.append(Piece(self.end_text, role="end"))
            if self.glue:
                pieces.append(Piece(self.glue, role="glue"))
            out.append(pieces)
        return out

    def end_ids(self) -> list[int]:
        return list(dict.fromkeys([self.end_id, self.eos]))


def _special_strings(tokenizer) -> list[str]:
    found = list(getattr(tokenizer, "all_special_tokens", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    found += [t.content for t in decoder.values() if getattr(t, "special", False)]
    return [t for t in found if t]
