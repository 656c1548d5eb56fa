"""Masked loss and perplexity on held-out records: the training objective, measured where it was not trained.

Each record is rendered exactly as in training (text.render: same template, same mask), so only the
answer and end-of-turn tokens count. The loss is averaged over those tokens across the whole set
(a long answer weighs more than a short one, as in training); per-record losses are kept for the
paired comparison of two models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from tunesmith.text.batching import pad_batch
from tunesmith.text.render import TooLong, render
from tunesmith.train.loss import token_loss_sums


@dataclass
class LossResult:
    loss: float                     # mean over answer tokens
    perplexity: float
    tokens: int
    records: int
    skipped: list[str] = field(default_factory=list)   # records too long for max_seq_len
    per_record: list[float] = field(default_factory=list)         # each record's mean over its answer tokens
    per_record_tokens: list[int] = field(default_factory=list)    # and its answer tokens: loss = weighted mean


def rendered_set(examples, template, tokenizer, *, max_seq_len: int, truncation: str = "cut_oldest"):
    """(rendered records, names of records skipped as too long)."""
    out, skipped = [], []
    for ex in examples:
        try:
            out.append(render(ex, template, tokenizer, max_seq_len=max_seq_len, truncation=truncation))
        except TooLong as e:
            skipped.append(e.message)
    return out, skipped


def masked_loss(model, rendered, pad_id: int, *, batch_size: int = 4, progress: bool = True,
                desc: str = "loss") -> LossResult:
    from tqdm.auto import tqdm

    total, count = 0.0, 0
    order = sorted(range(len(rendered)), key=lambda i: -len(rendered[i].input_ids))
    losses: dict[int, float] = {}
    tokens: dict[int, int] = {}
    bar = tqdm(total=len(rendered), desc=desc, unit="record", disable=not progress)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        chunk = [rendered[i] for i in rows]
        batch = {k: t.to(model.device) for k, t in pad_batch(chunk, pad_id).items()}
        with torch.inference_mode():
            sums, trained = token_loss_sums(model, batch)  # the loss the training loop's validation reports
        for i, s, n in zip(rows, sums.tolist(), trained.tolist()):
            n = int(n)
            losses[i], tokens[i] = s / max(n, 1), n
            total, count = total + s, count + n
        bar.update(len(chunk))
    bar.close()
    per_record = [losses[i] for i in range(len(rendered))]
    loss = total / max(count, 1)
    return LossResult(loss, math.exp(min(loss, 50.0)), count, len(rendered), per_record=per_record,
                      per_record_tokens=[tokens[i] for i in range(len(rendered))])
