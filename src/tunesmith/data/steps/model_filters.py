"""Filters that need a model: `token_length` (the target tokenizer) and `perplexity` (a small LM).

Both work a batch at a time: the tokenizer encodes a whole shard's rendered texts in one call, and the LM
scores records in padded mini-batches. The pipeline falls back to one record at a time if a batch
fails, so a record that breaks the tokenizer is rejected alone.
"""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from tunesmith.config import ModelConfig
from tunesmith.data.example import Example, FieldName
from tunesmith.data.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.data.steps.token_count import rendered_lengths


class TokenLengthOptions(StepOptions):
    model: ModelConfig = Field(default_factory=ModelConfig, description=(
        "The model whose tokenizer counts (only the tokenizer is loaded)."))
    template: str = Field("auto", description=(
        "Chat template the records will be trained with: auto (the tokenizer's own chat template; a\n"
        "tokenizer without one is refused, name a template then), alpaca, llama2, llama2-zh, chatml.\n"
        "Each record is counted as training renders it, template tokens included."))
    max_seq_len: int = Field(2048, gt=0, description="Drop records longer than this many tokens, template included.")
    min_tokens: int = Field(0, ge=0, description="Drop records shorter than this many tokens.")

    @field_validator("template")
    @classmethod
    def _known_template(cls, v):
        from tunesmith.text.templates import TEMPLATE_NAMES

        if v not in TEMPLATE_NAMES:
            raise ValueError(f"unknown template '{v}'; choose one of {', '.join(TEMPLATE_NAMES)}")
        return v

    @field_validator("fields")
    @classmethod
    def _whole_record(cls, v):
        if list(v) != ["all"]:
            raise ValueError("token_length counts the whole rendered record; leave `fields` out")
        return v


class TokenLengthStep(Step):
    """Drop records whose rendered training sample is longer than max_seq_len tokens."""

    name = "token_length"
    Options = TokenLengthOptions

    def __init__(self, options: TokenLengthOptions | None = None) -> None:
        from tunesmith.model.load import load_tokenizer
        from tunesmith.text.templates import get_template

        super().__init__(options)
        self.tokenizer = load_tokenizer(self.options.model)
        self.template = get_template(self.options.template, self.tokenizer)

    def apply(self, example: Example) -> Example | Drop:
        return self.apply_batch([example])[0]

    def apply_batch(self, examples: list[Example]) -> list[Example | Drop]:
        o = self.options
        out: list[Example | Drop] = []
        for e, n in zip(examples, rendered_lengths(examples, self.template, self.tokenizer)):
            if n > o.max_seq_len:
                out.append(Drop("too_many_tokens", f"{n} tokens > max_seq_len {o.max_seq_len}"))
            elif n < o.min_tokens:
                out.append(Drop("too_few_tokens", f"{n} tokens < {o.min_tokens}"))
            else:
                out.append(e)
        return out


class PerplexityOptions(StepOptions):
    fields: list[FieldName] = Field(default_factory=lambda: ["output"], description="Texts scored (joined).")
    model: ModelConfig = Field(default_factory=ModelConfig, description="The scoring LM (any local model folder).")
    max_perplexity: float = Field(1000.0, gt=0, description="Drop texts the LM finds less likely than this.")
    min_perplexity: float | None = Field(None, gt=0, description=(
        "Drop texts the LM finds too predictable (boilerplate, loops); null = off."))
    batch_size: int = Field(8, gt=0, description="Records per forward pass.")
    max_tokens: int = Field(256, gt=1, description="Score at most this many tokens of each text.")
    write_score: bool = Field(False, description="Store the score in meta.perplexity of kept records.")


class PerplexityStep(Step):
    """Drop texts a small LM finds too unlikely (or too predictable)."""

    name = "perplexity"
    Options = PerplexityOptions

    def __init__(self, options: PerplexityOptions | None = None) -> None:
        import torch

        from tunesmith.model.load import load_model, load_tokenizer

        super().__init__(options)
        cfg = self.options.model
        self.tokenizer = load_tokenizer(cfg)
        self.tokenizer.padding_side = "right"  # positions count from the first token of each text
        self.model = load_model(cfg, device=torch.device("cpu") if not torch.cuda.is_available() else None).eval()
        self._fields = tuple(self.options.fields)

    def apply(self, example: Example) -> Example | Drop:
        return self.apply_batch([example])[0]

    def scores(self, texts: list[str]) -> list[float]:
        """Perplexity of each text under the model (mean token NLL, exponentiated)."""
        import torch

        o = self.options
        out: list[float] = []
        device = next(self.model.parameters()).device
        for start in range(0, len(texts), o.batch_size):
            chunk = texts[start:start + o.batch_size]
            enc = self.tokenizer(chunk, add_special_tokens=True, truncation=True, max_length=o.max_tokens,
                                 padding=True, return_tensors="pt")
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            with torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            m = mask[:, 1:].float()
            mean = (nll * m).sum(1) / m.sum(1).clamp(min=1)
            out.extend(math.exp(min(v, 50.0)) for v in mean.tolist())
        return out

    def apply_batch(self, examples: list[Example]) -> list[Example | Drop]:
        o = self.options
        texts = ["\n".join(read_texts(e, self._fields)) for e in examples]
        scored = [i for i, t in enumerate(texts) if t.strip()]
        values = dict(zip(scored, self.scores([texts[i] for i in scored]))) if scored else {}
        out: list[Example | Drop] = []
        for i, e in enumerate(examples):
            ppl = values.get(i)
            if ppl is None:
                out.append(e)
            elif ppl > o.max_perplexity:
                out.append(Drop("perplexity_high", f"perplexity {ppl:.1f} > {o.max_perplexity}"))
            elif o.min_perplexity is not None and ppl < o.min_perplexity:
                out.append(Drop("perplexity_low", f"perplexity {ppl:.1f} < {o.min_perplexity}"))
            else:
                if o.write_score:
                    e.meta["perplexity"] = round(ppl, 3)
                out.append(e)
        return out
