"""Constrained decoding: answers that are valid JSON, or valid against a JSON schema, by construction.

OpenAI's `response_format` (`{"type": "json_object"}` or `{"type": "json_schema", "json_schema":
{"schema": ...}}`) is honoured with xgrammar, the grammar engine vLLM, SGLang and TensorRT-LLM use:
at every step it masks the tokens that could not continue a valid document, and once the document
is complete it allows only the template's end-of-turn ids, so the answer ends where the JSON ends.

A grammar is compiled once per (tokenizer, stop ids, schema) and a fresh matcher is made for each
answer (xgrammar's processors hold per-answer state and serve one `generate()` call only).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache

from tunesmith.errors import TunesmithError

# JSON with no free whitespace: a small or freshly tuned model left free to pick whitespace tends to
# fill the answer with newlines and tabs before it writes a single key.
_COMPACT = dict(any_whitespace=False)


class BadSchema(TunesmithError):
    """The JSON schema a request sent cannot be compiled into a grammar."""


class JsonConstraint:
    """Makes one logits processor per answer that keeps it a JSON object (valid against `schema` if given)."""

    def __init__(self, tokenizer, vocab_size: int, stop_ids: list[int], schema: dict | None = None):
        compiler = _compiler(tokenizer, vocab_size, tuple(stop_ids))
        try:
            if schema is None:  # json_object: an object (not any JSON value), with any keys
                self.grammar = compiler.compile_json_schema('{"type": "object"}', strict_mode=False, **_COMPACT)
            else:  # strict: a schema's object admits no keys it does not name, so the answer fits it
                self.grammar = compiler.compile_json_schema(json.dumps(schema), **_COMPACT)
        except Exception as e:  # xgrammar raises RuntimeError/ValueError subclasses with a message
            raise BadSchema(f"the JSON schema cannot be used: {e}",
                            "send a JSON Schema object (type, properties, required, ...)") from None

    def processor(self):
        import xgrammar as xgr

        return xgr.contrib.hf.LogitsProcessor(self.grammar)


_lock = threading.Lock()


def _compiler(tokenizer, vocab_size: int, stop_ids: tuple[int, ...]):
    # Building the tokenizer info walks the whole vocabulary: do it once per tokenizer.
    with _lock:
        return _cached_compiler(_Key(tokenizer), vocab_size, stop_ids)


class _Key:
    """Hashes a tokenizer by identity, so lru_cache can hold it."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __hash__(self):
        return id(self.tokenizer)

    def __eq__(self, other):
        return isinstance(other, _Key) and other.tokenizer is self.tokenizer


@lru_cache(maxsize=8)
def _cached_compiler(key: _Key, vocab_size: int, stop_ids: tuple[int, ...]):
    import xgrammar as xgr

    info = xgr.TokenizerInfo.from_huggingface(key.tokenizer, vocab_size=vocab_size, stop_token_ids=list(stop_ids))
    return xgr.GrammarCompiler(info)


def json_constraint(target, response_format) -> JsonConstraint | None:
    """The constraint a request's `response_format` asks for, or None for plain text."""
    if response_format is None or response_format.type == "text":
        return None
    schema = response_format.schema_dict()
    vocab = target.model.config.get_text_config().vocab_size
    return JsonConstraint(target.tokenizer, vocab, target.stop_ids, schema)

