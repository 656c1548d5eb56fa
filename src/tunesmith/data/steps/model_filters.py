"""Filters that need a model: `token_length` (the target tokenizer) and `perplexity` (a small LM).

Both work a batch at a time: a fast tokenizer encodes a whole shard in one Rust call, and the LM
scores records in padded mini-batches. The pipeline falls back to one record at a time if a batch
fails, so a record that breaks the tokenizer is rejected alone.
"""

from __future__ import annotations

import math

from pydantic import Field

from tunesmith.config import ModelConfig
from tunesmith.data.example import Example, FieldName
from tunesmith.data.steps.base import Drop, Step, StepOptions, read_texts


class TokenLengthOptions(StepOptions):
    model: ModelConfig = Field(default_factory=ModelConfig, description=(
        "The model whose tokenizer counts (only the tokenizer is loaded)."))
    max_seq_len: int = Field(2048, gt=0, description="Drop records longer than this many tokens, template included.")
    min_tokens: int = Field(0, ge=0, description="Drop records shorter than this many tokens.")
    template_tokens_per_turn: int = Field(8, ge=0, description=(
        "Tokens a chat template adds per turn (role markers, end token); 8 fits llama2/chatml roughly."))


class TokenLengthStep(Step):
    """Drop records longer than max_seq_len tokens of the target tokenizer."""

    name = "token_length"
    Options = TokenLengthOptions

    def __init__(self, options: TokenLengthOptions | None = None) -> None:
        from tunesmith.model.load import load_tokenizer

        super().__init__(options)
        self.tokenizer = load_tokenizer(self.options.model)
        self._fields = tuple(self.options.fields)

    def apply(self, example: Example) -> Example | Drop:
        return self.apply_batch([example])[0]

    def apply_batch(self, examples: list[Example]) -> list[Example | Drop]:
        o = self.options
        texts, owner = [], []
        for i, e in enumerate(examples):
            for t in read_texts(e, self._fields):
                texts.append(t)
                owner.append(i)
        counts = [0] * len(examples)
        if texts:
            ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            for i, row in zip(owner, ids):
                counts[i] += len(row)
        out: list[Example | Drop] = []
        for e, n in zip(examples, counts):
            n += o.template_tokens_per_turn * (len(e.turns) + (e.system is not None))
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
