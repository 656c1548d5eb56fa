"""Request bodies of the OpenAI-compatible endpoints, validated strictly (a typo is a 400, not ignored).

Fields OpenAI clients send routinely are accepted; ones that would change the answer in a way this
server cannot honour (n > 1, tools, penalties other than 0) are refused with a message rather than
silently dropped. `logprobs` / `top_logprobs` and `response_format` (JSON, JSON schema) are honoured.
Two extensions, as vLLM has them: `top_k` and `repetition_penalty`.

Strict means strict: flags are JSON booleans and counts JSON integers (`"stream": "yes"` and
`"max_tokens": true` are 400s, not coerced), numbers stay in the range the sampler takes (`seed` fits
64 bits, `repetition_penalty` in (0, 10], no NaN or infinity), and no string may hold a lone surrogate
(`"\ud800"` is valid JSON but no text: it would fail in the tokenizer, deep inside the request).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

SEED_RANGE = 2 ** 63  # torch.manual_seed takes 64 bits; the batch path adds the row index to the seed
MAX_REPETITION_PENALTY = 10.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def lone_surrogate(value, path: str = "") -> str | None:
    """The dotted path of the first string in `value` holding a lone surrogate, or None."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return where or "request"
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
            stack.extend((k, where or "request") for k in item if isinstance(k, str))
        elif isinstance(item, list):
            stack.extend((v, f"{where}.{i}" if where else str(i)) for i, v in enumerate(item))
    return None


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class Message(_Strict):
    # `developer` is OpenAI's current name for the system role.
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None   # an assistant turn may carry none (OpenAI allows null)
    name: str | None = None

    @model_validator(mode="after")
    def _content_needed(self):
        if self.content is None and self.role != "assistant":
            raise ValueError(f"content: a '{self.role}' message needs content (only an assistant's may be null)")
        return self

    @property
    def template_role(self) -> str:
        return "system" if self.role == "developer" else self.role

    def text(self) -> str:
        if self.content is None:
            return ""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Strict):
    include_usage: StrictBool = False


class JsonSchema(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    schema_: dict | None = Field(None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    @model_validator(mode="after")
    def _schema_given(self):
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("json_schema: required when type is 'json_schema'")
        return self

    def schema_dict(self) -> dict | None:
        """The schema the answer must follow; None for any JSON object."""
        if self.type != "json_schema":
            return None
        return self.json_schema.schema_ if self.json_schema.schema_ is not None else {"type": "object"}


class _Sampling(_Strict):
    model: str
    max_tokens: StrictInt | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: StrictInt = Field(0, ge=0)
    repetition_penalty: float = Field(1.0, gt=0.0, le=MAX_REPETITION_PENALTY)
    n: StrictInt = 1
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: StrictInt | None = Field(None, ge=-SEED_RANGE, lt=SEED_RANGE)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    user: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_is_text(cls, data):
        where = lone_surrogate(data)
        if where is not None:
            raise ValueError(f"{where}: holds a lone surrogate (such as \\ud800), which is not text; "
                             "send valid UTF-16 pairs or UTF-8")
        return data

    @field_validator("n")
    @classmethod
    def _one(cls, v):
        if v != 1:
            raise ValueError("only n=1 is supported; send several requests for several answers")
        return v

    @field_validator("stop")
    @classmethod
    def _stops(cls, v):
        stops = [v] if isinstance(v, str) else list(v or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        if any(not s for s in stops):
            raise ValueError("stop sequences must not be empty")
        return stops

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalty(cls, v):
        if v != 0:
            raise ValueError("not supported (only 0); use the repetition_penalty extension instead")
        return v


class ChatRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list | None = None
    tool_choice: Literal["none"] | None = None
    parallel_tool_calls: StrictBool | None = None

    @field_validator("tools")
    @classmethod
    def _no_tools(cls, v):
        if v:
            raise ValueError("tools (function calling) are not supported by this server; describe the tools "
                             "in the messages, or use response_format json_schema for structured answers")
        return v

    @model_validator(mode="after")
    def _last_is_user(self):
        if self.messages[-1].role != "user":
            raise ValueError("the last message must come from the user: there is nothing to answer")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs: needs logprobs: true")
        return self

    def logprob_count(self) -> int | None:
        """Alternatives per token to report, or None when logprobs are off."""
        return (self.top_logprobs or 0) if self.logprobs else None

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    echo: Literal[False] = False
    logprobs: StrictInt | None = Field(None, ge=0, le=5)
    suffix: None = None

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v):
        if isinstance(v, list):
            if len(v) != 1:
                raise ValueError("send one prompt per request (a list of exactly one string is accepted)")
            return v[0]
        return v

    def limit(self) -> int | None:
        return self.max_tokens
