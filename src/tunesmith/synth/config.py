"""The settings of `tunesmith data synth`: a YAML file, dotted overrides and flags all land here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tunesmith.config import Section


class BackendConfig(Section):
    kind: Literal["openai", "local"] = Field("openai", description=(
        "openai: any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, `tunesmith serve`, ...);\n"
        "local: a model folder, embedded model or run folder through tunesmith's own generation."))
    base_url: str = Field("http://127.0.0.1:8000/v1", description="openai: the endpoint, ending in /v1.")
    model: str | None = Field(None, description="openai: the model name to ask for (null = the endpoint's only model).")
    api_key_env: str = Field("OPENAI_API_KEY", description=(
        "openai: the environment variable holding the API key (unset = no key, as local servers need none)."))
    path: str | None = Field(None, description="local: a model folder, embedded name (smollm2), .gguf file or run folder.")
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="local: weights dtype.")
    template: str | None = Field(None, description=(
        "local: chat template (auto, alpaca, llama2, llama2-zh, chatml); null = a run folder's own, else the\n"
        "tokenizer's chat template, else alpaca (base models)."))
    temperature: float = Field(0.7, ge=0, description="Sampling temperature (0 = greedy).")
    max_tokens: int = Field(512, gt=0, description="Longest reply, in tokens.")
    concurrency: int = Field(4, gt=0, description="openai: requests in flight at once (local: always 1).")
    timeout: float = Field(60.0, gt=0, description="openai: seconds to wait for one reply before retrying.")
    max_retries: int = Field(6, ge=0, description="openai: retries per request on 429, 5xx, timeouts and malformed replies.")
    backoff: float = Field(1.0, ge=0, description="openai: first retry waits up to this many seconds; doubles each time.")
    max_backoff: float = Field(30.0, ge=0, description="openai: longest wait between retries (also caps Retry-After).")

    @model_validator(mode="after")
    def _local_needs_path(self):
        if self.kind == "local" and not self.path:
            raise ValueError("backend.kind=local needs backend.path (a model folder, embedded name or run folder)")
        return self


class SplitConfig(Section):
    max_tokens: int = Field(384, gt=8, description="Longest passage, in tokens.")
    overlap_tokens: int = Field(48, ge=0, description=(
        "Context repeated from the previous passage when a cut falls inside a paragraph (whole sentences;\n"
        "at most half of max_tokens)."))
    min_tokens: int = Field(16, ge=1, description="Shorter passages (a stray heading, a footer line) are skipped.")
    tokenizer: str = Field("auto", description=(
        "How passages are measured: auto (the local model's tokenizer, else an estimate), estimate,\n"
        "or a model folder / embedded name whose tokenizer to use."))


class PromptConfig(Section):
    language: Literal["auto", "zh", "en"] = Field("auto", description=(
        "Prompt language: auto (per passage: Chinese if a fifth of its letters are Han characters), zh or en."))
    question: str | None = Field(None, description=(
        "Question prompt with {passage} where the passage goes (null = the built-in zh/en prompt:\n"
        "\"请你为这段内容生成一个合理的问题...\")."))
    answer: str | None = Field(None, description="Answer prompt with {passage} and {question} (null = built-in).")
    system: str | None = Field(None, description="System prompt sent with every request (null = none).")


class SynthConfig(Section):
    backend: BackendConfig = Field(default_factory=BackendConfig, description="The LLM that writes questions and answers.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="How documents become passages.")
    prompts: PromptConfig = Field(default_factory=PromptConfig, description="What the LLM is asked.")
    answer: Literal["passage", "llm"] = Field("passage", description=(
        "The record's output: passage (the passage itself answers the generated question, as in the\n"
        "chapter) or llm (a second request writes an answer grounded in the passage)."))
    passage_as_input: bool = Field(False, description=(
        "Put the passage in the record's input (reading-comprehension records). Needs answer=llm."))
    max_question_chars: int = Field(300, gt=0, description="Longer questions are dropped as runaway generations.")
    text_field: str | None = Field(None, description=(
        "JSONL documents: the field holding the text (null = text, content, body or passage)."))
    cache: str | None = Field(None, description=(
        "SQLite file of answers already received (null = $TUNESMITH_HOME/synth-cache.sqlite; \"off\" = none)."))
    stop_after_failures: int = Field(5, gt=0, description=(
        "Stop the run once this many passages have failed every retry (the endpoint is likely down)."))
    strict: bool = Field(False, description="Stop at the first unreadable JSONL line instead of reporting and skipping it.")

    @model_validator(mode="after")
    def _input_needs_answers(self):
        if self.passage_as_input and self.answer != "llm":
            raise ValueError("passage_as_input=true needs answer=llm: with answer=passage the output would repeat the input")
        return self
