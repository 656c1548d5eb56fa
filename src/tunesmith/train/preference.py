"""What preference objectives need from a model: pair batches, sequence log-probabilities, the reference.

- `PairBatcher`: the Batcher over PairSamples. A micro-batch of B pairs collates to ONE batch of 2B
  rows, the B chosen sequences then the B rejected ones, so both sides go through the model in one
  forward (as TRL and LLaMA-Factory do). `pair_ids` says which pairs (the reference cache is indexed
  by them); the objective takes it out before the forward.
- `sequence_logps`: per row, the summed log-probability of its labelled tokens, and how many there are.
  Logits are only computed at labelled positions (the decoder's hidden states there times the output
  layer), so no [2B, T, vocab] tensor exists when the model splits into decoder + head (see
  train.loss.split_head); otherwise the model's own forward, its logits cut to the labelled positions.
- The reference (DPO, IPO): the policy at step 0.
  * adapter methods: the same model with its adapters switched off (`PeftModel.disable_adapter`,
    which for prefix/prompt/p-tuning runs the base model without virtual tokens): no second copy;
    one extra no-grad forward per micro-batch.
  * full / freeze: every weight may move, so the step-0 log-probabilities are computed once, before
    the first step, for the training and validation pairs, and cached in the run folder
    (`reference_logps.pt`): no second model in memory at all, one forward per pair in total, and a
    resumed run reads them back (its weights are no longer the reference).
  The reference runs in eval mode (no dropout, no NEFTune noise) under no_grad.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from tunesmith.errors import ConfigError
from tunesmith.text.batching import IGNORE_INDEX, Batcher, pad_batch
from tunesmith.text.render_pair import PairSample

REFERENCE_FILE = "reference_logps.pt"


class PairBatcher(Batcher):
    """A Batcher whose samples are PairSamples: same epoch order rules (seed, epoch), no packing."""

    def __init__(self, samples: list[PairSample], micro_batch_size: int, pad_id: int, *, packing: bool = False,
                 **kwargs):
        if packing:
            raise ValueError("pairs are not packed (train.packing must be false for a preference objective)")
        if not all(isinstance(s, PairSample) for s in samples):
            raise ValueError("a preference objective trains on PairSamples (text.render_pair)")
        super().__init__(samples, micro_batch_size, pad_id, packing=False, **kwargs)

    def collate(self, micro: list[list[int]]) -> dict:
        pairs = [self.samples[row[0]] for row in micro]
        batch = pad_batch([p.chosen for p in pairs] + [p.rejected for p in pairs], self.pad_id)
        batch["pair_ids"] = torch.tensor([row[0] for row in micro], dtype=torch.long)
        return batch

    def pairs(self, micro: list[list[int]]) -> int:
        return len(micro)

    def chosen_tokens(self, micro: list[list[int]]) -> int:
        return sum(self.samples[row[0]].chosen.trained_tokens for row in micro)


def sequence_logps(model, batch: dict, fused=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-prob of the labelled tokens, labelled-token count) per row, in float32.

    `batch` holds input_ids, attention_mask and labels (no pair_ids); `fused` is split_head(model) or None.
    """
    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    targets = labels[:, 1:]
    where = targets != IGNORE_INDEX
    if fused is not None:
        decoder, head = fused
        hidden = decoder(**inputs, use_cache=False).last_hidden_state[:, :-1]
        logits = head(hidden[where]).float()
    else:
        logits = model(**inputs, use_cache=False).logits
        logits = logits[:, -labels.shape[1]:][:, :-1][where].float()  # prompt tuning prepends virtual tokens
    token_logps = torch.log_softmax(logits, dim=-1).gather(-1, targets[where].unsqueeze(-1)).squeeze(-1)
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(1).expand_as(targets)[where]
    sums = torch.zeros(labels.shape[0], dtype=torch.float32, device=labels.device).index_add(0, rows, token_logps)
    return sums, where.sum(dim=1)


class AdaptersOff:
    """The reference as the model with its adapters disabled: nothing stored, one no-grad forward."""

    def __init__(self, model, peft_model):
        self.model, self.peft_model = model, peft_model

    @torch.no_grad()
    def logps(self, batch: dict, pair_ids: torch.Tensor, fused=None, split: str = "train") -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            with self.peft_model.disable_adapter():
                sums, _ = sequence_logps(self.model, batch, fused)
        finally:
            self.model.train(was_training)
        return sums


class Cached:
    """The reference as log-probabilities computed once at step 0: {"train": [N, 2], "val": [M, 2]} (chosen, rejected)."""

    def __init__(self, tables: dict[str, torch.Tensor]):
        self.tables = tables

    def logps(self, batch: dict, pair_ids: torch.Tensor, fused=None, split: str = "train") -> torch.Tensor:
        table = self.tables[split].to(pair_ids.device)[pair_ids]
        return torch.cat([table[:, 0], table[:, 1]])


def fingerprint(*sets: list[PairSample]) -> str:
    """The pairs' token ids and labels, hashed: a cache belongs to exactly the pairs it was computed on."""
    h = hashlib.sha256()
    for samples in sets:
        h.update(b"|set|")
        for p in samples:
            for side in (p.chosen, p.rejected):
                h.update(repr((side.input_ids, side.labels)).encode())
    return h.hexdigest()


@torch.no_grad()
def pair_logps(model, samples: list[PairSample], micro_batch_size: int, d, autocast_ctx=None,
               fused=None) -> torch.Tensor:
    """[len(samples), 2] summed log-probs (chosen, rejected) of every pair, in eval mode; across processes each
    computes its share (with filler forwards so FSDP's collectives line up) and the shares are summed."""
    from contextlib import nullcontext

    was_training = model.training
    model.eval()
    batcher = PairBatcher(samples, micro_batch_size, 0, group_by_length=False, shuffle=False)
    out = torch.zeros(len(samples), 2, dtype=torch.float64, device=d.device)
    rounds = -(-len(batcher) // d.world_size)
    for index in range(d.rank, rounds * d.world_size, d.world_size):
        batch = {k: t.to(d.device) for k, t in batcher.collate(batcher.micro_batch(index % len(batcher))).items()}
        pair_ids = batch.pop("pair_ids")
        with autocast_ctx() if autocast_ctx else nullcontext():
            sums, _ = sequence_logps(model, batch, fused)
        if index < len(batcher):
            out[pair_ids] = torch.stack(sums.double().chunk(2), dim=1)
    model.train(was_training)
    if d.enabled:
        torch.distributed.all_reduce(out)
    return out.float()


def cached_reference(run_root: Path, train: list[PairSample], val: list[PairSample], resumed: bool, compute,
                     write: bool = True) -> Cached:
    """The step-0 reference of a full/freeze run: computed now (`compute(samples)`) and saved in the run folder
    (by the main process: `write`), or, when resuming, read back from it (and checked to belong to these pairs)."""
    path = Path(run_root) / REFERENCE_FILE
    key = fingerprint(train, val)
    if resumed:
        if not path.is_file():
            raise ConfigError(f"--resume: {path} is missing: the reference log-probabilities of this run were "
                              "computed from the weights at step 0, which the checkpoint no longer holds",
                              "start the run again (without --resume)")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") != key:
            raise ConfigError(f"--resume: {path} was computed on other pairs than this run's data",
                              "resume with the data the run started with, or start again")
        return Cached({"train": saved["train"], "val": saved["val"]})
    tables = {"train": compute(train).cpu(), "val": compute(val).cpu() if val else torch.zeros(0, 2)}
    if write:
        import io

        from tunesmith.io import atomic_write_bytes

        buffer = io.BytesIO()
        torch.save({"fingerprint": key, **tables}, buffer)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    return Cached(tables)
