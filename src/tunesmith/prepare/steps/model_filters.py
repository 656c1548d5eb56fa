"""Filters that need a model: `token_length` (the tokenizer you train with) and `perplexity` (a small LM).

Both work a shard at a time (`apply_batch`). `token_length` counts each record exactly as training will
render it, template tokens, system prompt and truncation included, without rendering it
(token_count.py); `perplexity` scores the shard's texts sorted by length in batches. The pipeline falls
back to one record at a time if a batch fails, so a record that breaks the tokenizer is rejected alone.
"""

from __future__ import annotations

import math
from typing import Literal

import regex
from pydantic import Field, field_validator, model_validator

from tunesmith.config import ModelConfig
from tunesmith.records.example import Example, FieldName
from tunesmith.prepare.steps.base import Drop, Step, StepOptions, read_texts
from tunesmith.prepare.steps.registry import register
from tunesmith.prepare.steps.token_count import RenderedLengths, TrainingLengths

LOGIT_CHUNK = 512     # positions whose logits exist at once when scoring perplexity
CHINESE_SAMPLE = 64  # records per batch whose Chinese runs measure the tokenizer's tokens per character
_HAN = regex.compile(r"\p{Han}+")


class TokenLengthOptions(StepOptions):
    run: str | None = Field(None, description=(
        "The run config you will train with (the YAML given to `tunesmith train`, or a run folder's config.yaml).\n"
        "Its model, template.name, template.system, template.max_seq_len and template.truncation are the\n"
        "defaults of the keys below, so each record is counted exactly as that run will render it\n"
        "(a relative path is read from the folder you run in, as `inputs` are).\n"
        "`run` or `model` is required: a count made with another tokenizer says little."))
    model: ModelConfig | None = Field(None, description=(
        "The model whose tokenizer counts (only the tokenizer is loaded); default: the run's model."))
    template: str | None = Field(None, description=(
        "Chat template the records will be trained with: auto (the tokenizer's own chat template; a\n"
        "tokenizer without one is refused, name a template then), alpaca, llama2, llama2-zh, chatml.\n"
        "Default: the run's template.name, else auto. Template tokens are counted too."))
    system: str | None = Field(None, description=(
        "System prompt for records that have none, as training adds it; default: the run's template.system."))
    max_seq_len: int | None = Field(None, gt=0, description=(
        "Longest sample in tokens, template included; default: the run's template.max_seq_len, else 1024."))
    truncation: Literal["drop", "cut_oldest"] | None = Field(None, description=(
        "What training does with a longer record; default: the run's template.truncation, else cut_oldest.\n"
        "drop: records longer than max_seq_len are dropped. cut_oldest: a multi-turn record whose latest\n"
        "exchanges fit is kept and flagged `cut_in_training` (training cuts its oldest turns); one that does\n"
        "not fit even then is dropped."))
    min_tokens: int = Field(0, ge=0, description="Drop records shorter than this many tokens.")

    @field_validator("template")
    @classmethod
    def _known_template(cls, v):
        from tunesmith.text.templates import TEMPLATE_NAMES

        if v is not None and v not in TEMPLATE_NAMES:
            raise ValueError(f"unknown template '{v}'; choose one of {', '.join(TEMPLATE_NAMES)}")
        return v

    @field_validator("fields")
    @classmethod
    def _whole_record(cls, v):
        if list(v) != ["all"]:
            raise ValueError("token_length counts the whole rendered record; leave `fields` out")
        return v

    @model_validator(mode="after")
    def _tokenizer_named(self):
        if self.run is None and self.model is None:
            raise ValueError("token_length needs the tokenizer you train with: name your run config "
                             "(run: configs/my-run.yaml) or the model (model: {path: smollm2})")
        return self


@register
class TokenLengthStep(Step):
    """Drop records that training could not fit in max_seq_len tokens, counted as training renders them."""

    name = "token_length"
    Options = TokenLengthOptions

    def __init__(self, options: TokenLengthOptions | None = None) -> None:
        from tunesmith.model.load import load_tokenizer
        from tunesmith.text.templates import get_template

        super().__init__(options)
        o = self.options
        run = _run_template(o.run)
        model = o.model or run.model
        self.template_name = o.template or run.template.name
        self.system = o.system if o.system is not None else run.template.system
        self.max_seq_len = o.max_seq_len or run.template.max_seq_len
        self.truncation = o.truncation or run.template.truncation
        self.tokenizer = load_tokenizer(model)
        self.template = get_template(self.template_name, self.tokenizer)
        self.lengths = RenderedLengths(self.template, self.tokenizer)
        self.fitting = TrainingLengths(self.lengths, self.max_seq_len, self.truncation)
        self.tokenizer_label = (f"tokenizer: {model.path} ({len(self.tokenizer):,} tokens, "
                                f"template {self.template_name}, {self.lengths.method})")

    def apply(self, example: Example) -> Example | Drop:
        return self.apply_batch([example])[0]

    def apply_batch(self, examples: list[Example]) -> list[Example | Drop]:
        o = self.options
        # As training does before rendering: records without a system prompt get template.system.
        counted = examples if self.system is None else [
            e if e.system is not None else Example(e.turns, self.system, e.meta) for e in examples]
        out: list[Example | Drop] = []
        for example, fit in zip(examples, self._fits(counted)):
            if not fit.fits:
                cuttable = self.truncation == "cut_oldest" and len(example.turns) > 2
                out.append(Drop("too_many_tokens", f"{fit.length} tokens" + (
                    f", and its last exchange alone is still > max_seq_len {self.max_seq_len}" if cuttable
                    else f" > max_seq_len {self.max_seq_len}")))
            elif fit.fitted < o.min_tokens:
                out.append(Drop("too_few_tokens", f"{fit.fitted} tokens < {o.min_tokens}"))
            else:
                if fit.cut:
                    self.flag(example, "cut_in_training",
                              f"{fit.length} tokens > max_seq_len {self.max_seq_len}: "
                              f"training cuts the oldest {fit.cut} turns ({fit.fitted} left)")
                out.append(example)
        self._tally(counted)
        return out

    def _fits(self, examples: list[Example]) -> list:
        """How each record fits; a preference pair fits as its longer side (the prompt with one answer), which
        is what decides its truncation in training (text.render_pair)."""
        views, at = [], []
        for e in examples:
            at.append(len(views))
            views.append(e if e.rejected is None else Example(e.turns, e.system, e.meta))
            if e.rejected is not None:
                views.append(e.with_answer(e.rejected))
        fits = self.fitting.fits(views)
        return [fits[i] if e.rejected is None else max(fits[i], fits[i + 1], key=lambda f: f.length)
                for e, i in zip(examples, at)]

    def _tally(self, examples: list[Example]) -> None:
        """Which tokenizer counted, and its tokens per Chinese character on (a sample of) these records."""
        counts = self.stats.counts
        counts[self.tokenizer_label] += len(examples)
        runs = [r for e in examples[:CHINESE_SAMPLE] for text in e.text_list(("all",)) for r in _HAN.findall(text)]
        if runs:
            counts["chinese_chars"] += sum(map(len, runs))
            counts["chinese_tokens"] += sum(self.lengths.plain_lengths(runs))


def _run_template(path: str | None):
    """The run config at `path` (training's defaults when None)."""
    from tunesmith import config
    from tunesmith.runs.config import RunConfig

    return config.load(RunConfig, path) if path is not None else RunConfig()


class PerplexityOptions(StepOptions):
    fields: list[FieldName] = Field(default_factory=lambda: ["output"], description="Texts scored (joined).")
    model: ModelConfig = Field(default_factory=ModelConfig, description=(
        "The scoring LM (any local model folder). On a CPU with bf16 instructions, dtype: bf16 scores about\n"
        "1.8x faster than fp32 (SmolLM2 on Alpaca answers: perplexities differ by 0.4% median, 6% at most)."))
    max_perplexity: float = Field(1000.0, gt=0, description="Drop texts the LM finds less likely than this.")
    min_perplexity: float | None = Field(None, gt=0, description=(
        "Drop texts the LM finds too predictable (boilerplate, loops); null = off."))
    batch_size: int = Field(16, gt=0, description=(
        "Texts per forward pass; the texts of a shard are sorted by length first, so a batch pads little."))
    max_tokens: int = Field(256, gt=1, description="Score at most this many tokens of each text.")
    write_score: bool = Field(False, description="Store the score in meta.perplexity of kept records.")


@register
class PerplexityStep(Step):
    """Drop texts a small LM finds too unlikely (or too predictable).

    A shard's texts are tokenized in one call, sorted by length and scored in batches of similar length
    (padding is most of the work otherwise); the loss is computed from the last hidden states of the
    real tokens only, a chunk at a time, so the full [batch, length, vocabulary] logits never exist.
    A text with fewer than two tokens has nothing to predict and is kept unscored.
    """

    name = "perplexity"
    Options = PerplexityOptions

    def __init__(self, options: PerplexityOptions | None = None) -> None:
        import torch

        from tunesmith.model.load import load_model, load_tokenizer

        super().__init__(options)
        cfg = self.options.model
        self.tokenizer = load_tokenizer(cfg)
        self.model = load_model(cfg, device=torch.device("cpu") if not torch.cuda.is_available() else None).eval()
        self._fields = tuple(self.options.fields)
        self._pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def apply(self, example: Example) -> Example | Drop:
        return self.apply_batch([example])[0]

    def scores(self, texts: list[str]) -> list[float | None]:
        """Perplexity of each text under the model (mean NLL of its tokens after the first, exponentiated);
        None for a text with fewer than two tokens."""
        o = self.options
        ids = self.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=o.max_tokens)["input_ids"]
        out: list[float | None] = [None] * len(texts)
        order = sorted((i for i in range(len(ids)) if len(ids[i]) >= 2), key=lambda i: -len(ids[i]))
        for start in range(0, len(order), o.batch_size):
            chunk = order[start:start + o.batch_size]
            for i, nll in zip(chunk, self._mean_nll([ids[i] for i in chunk])):
                out[i] = math.exp(min(nll, 50.0))
        return out

    def _mean_nll(self, rows: list[list[int]]) -> list[float]:
        """Mean next-token NLL of each row (right-padded into one batch; causal, so padding changes nothing)."""
        import torch

        device = next(self.model.parameters()).device
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            hidden = self._hidden(ids, mask)
            valid = mask[:, 1:].bool()
            targets = ids[:, 1:][valid]
            which = torch.arange(len(rows), device=device)[:, None].expand_as(valid)[valid]
            nll = torch.empty(targets.shape[0], device=device)
            if hidden is None:  # a model whose head is not a plain linear layer: the whole logits
                logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1][valid].float()
                nll = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
            else:
                states, head = hidden[:, :-1][valid], self.model.get_output_embeddings()
                for s in range(0, targets.shape[0], LOGIT_CHUNK):
                    logits = head(states[s:s + LOGIT_CHUNK]).float()
                    nll[s:s + LOGIT_CHUNK] = torch.nn.functional.cross_entropy(
                        logits, targets[s:s + LOGIT_CHUNK], reduction="none")
            total = torch.zeros(len(rows), device=device).index_add_(0, which, nll)
            counts = valid.sum(1).clamp(min=1)
        return (total / counts).tolist()

    def _hidden(self, ids, mask):
        """The last hidden states, when the logits are exactly `lm_head(hidden)` (Llama-family), else None."""
        import torch

        body, head, config = getattr(self.model, "model", None), self.model.get_output_embeddings(), self.model.config
        if (body is None or not isinstance(head, torch.nn.Linear)
                or getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None)):
            return None
        return body(input_ids=ids, attention_mask=mask).last_hidden_state

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
