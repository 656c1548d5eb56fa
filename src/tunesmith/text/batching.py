"""Rendered samples -> batches: dynamic padding, packing without cross-contamination, length grouping.

Every batch is a dict of tensors the model's forward takes (`input_ids`, `labels`, and
`attention_mask` and/or `position_ids`), plus nothing else. Labels are -100 wherever no loss is
taken; they are never derived from the pad id, so pad = eos cannot hide the end token.

Packing puts several samples in one row. Three things keep a packed row equal to its samples
trained one by one (tested: same loss to float tolerance):
- positions restart at 0 for each sample (`position_ids`);
- attention cannot cross samples: a block-diagonal causal 4D mask (`block_mask`), or, for kernels
  that cut at position restarts (flash-attention varlen, flex, transformers' packed detection),
  the position ids alone (`position_ids`);
- the label of each sample's first token is -100, so the last token of one sample is never
  trained to predict the first token of the next.

The batch order of an epoch is a pure function of (seed, epoch): resuming at step N rebuilds the
same order and skips to N, so the data position needs no state of its own.
"""

from __future__ import annotations

import bisect

import torch

from tunesmith.text.sample import IGNORE_INDEX, Sample
MEGABATCH = 50  # length grouping sorts within windows of 50 micro-batches, then shuffles the batches


# ---------------------------------------------------------------------------------------------
# Collation
# ---------------------------------------------------------------------------------------------

def pad_batch(samples: list[Sample], pad_id: int, pad_to_multiple_of: int | None = None) -> dict:
    """Right-pad to the longest sample of the batch (not to max_seq_len: that is mostly padding)."""
    longest = max(len(s) for s in samples)
    if pad_to_multiple_of:
        longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    ids = torch.full((len(samples), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), longest), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(samples), longest), dtype=torch.long)
    for i, s in enumerate(samples):
        n = len(s)
        ids[i, :n] = torch.tensor(s.input_ids)
        labels[i, :n] = torch.tensor(s.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def pack_batch(rows: list[list[Sample]], pad_id: int, attention: str = "block_mask") -> dict:
    """Each row is several samples end to end; positions restart per sample, attention stays inside it."""
    longest = max(sum(len(s) for s in row) for row in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), longest), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), longest), dtype=torch.long)
    documents = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        start = 0
        for doc, s in enumerate(row):
            n = len(s)
            ids[i, start:start + n] = torch.tensor(s.input_ids)
            labels[i, start:start + n] = torch.tensor(s.labels)
            labels[i, start] = IGNORE_INDEX  # the previous sample's last token must not learn to predict this one
            positions[i, start:start + n] = torch.arange(n)
            documents[i, start:start + n] = doc
            start += n
        # The padded tail is one more "document" of its own: positions restart, nothing attends into it.
        positions[i, start:] = torch.arange(longest - start)
        documents[i, start:] = len(row)
    batch = {"input_ids": ids, "labels": labels, "position_ids": positions}
    if attention == "block_mask":
        causal = torch.ones(longest, longest, dtype=torch.bool).tril()
        same_doc = documents.unsqueeze(2) == documents.unsqueeze(1)
        batch["attention_mask"] = (same_doc & causal).unsqueeze(1)  # [B, 1, T, T], True = may attend
    elif attention != "position_ids":
        raise ValueError(f"unknown packing attention '{attention}'")
    return batch


def trained_tokens(batch: dict) -> int:
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


# ---------------------------------------------------------------------------------------------
# Packing: which samples share a row
# ---------------------------------------------------------------------------------------------

def pack(lengths: list[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing bin packing of sample indices into rows of at most `capacity` tokens.

    Best fit via a sorted list of free spaces: O(n log n). Rows come out in creation order; samples
    within a row keep their decreasing-length order.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (space left, row index), sorted
    for i in order:
        n = lengths[i]
        if n > capacity:
            raise ValueError(f"sample {i} has {n} tokens, more than the row capacity {capacity}")
        at = bisect.bisect_left(free, (n, -1))
        if at < len(free):
            space, row = free.pop(at)
            rows[row].append(i)
            space -= n
        else:
            rows.append([i])
            row, space = len(rows) - 1, capacity - n
        if space > 0:
            bisect.insort(free, (space, row))
    return rows


# ---------------------------------------------------------------------------------------------
# Epoch order
# ---------------------------------------------------------------------------------------------

class Batcher:
    """Turns samples into the micro-batches of each epoch, deterministically from (seed, epoch).

    A micro-batch is a list of rows; a row is a list of sample indices (one sample unless packing).
    """

    def __init__(self, samples: list[Sample], micro_batch_size: int, pad_id: int, *, packing: bool = False,
                 max_seq_len: int = 1024, group_by_length: bool = True, packing_attention: str = "block_mask",
                 seed: int = 0, shuffle: bool = True):
        if not samples:
            raise ValueError("no samples to batch")
        self.samples = samples
        self.micro_batch_size = micro_batch_size
        self.pad_id = pad_id
        self.packing = packing
        self.packing_attention = packing_attention
        self.group_by_length = group_by_length and not packing  # packed rows are all about max_seq_len
        self.seed = seed
        self.shuffle = shuffle
        if packing:
            self.rows = pack([len(s) for s in samples], max_seq_len)
        else:
            self.rows = [[i] for i in range(len(samples))]
        self.row_lengths = [sum(len(samples[i]) for i in row) for row in self.rows]
        self._cache: dict[int, list[list[list[int]]]] = {}

    def __len__(self) -> int:
        """Micro-batches per epoch."""
        return -(-len(self.rows) // self.micro_batch_size)

    def epoch(self, epoch: int) -> list[list[list[int]]]:
        if epoch not in self._cache:
            self._cache = {epoch: self._order(epoch)}  # keep one epoch: they are cheap to rebuild
        return self._cache[epoch]

    def micro_batch(self, index: int) -> list[list[int]]:
        """The `index`-th micro-batch of the whole run (epochs follow one another)."""
        return self.epoch(index // len(self))[index % len(self)]

    def collate(self, micro: list[list[int]]) -> dict:
        rows = [[self.samples[i] for i in row] for row in micro]
        if self.packing:
            return pack_batch(rows, self.pad_id, self.packing_attention)
        return pad_batch([row[0] for row in rows], self.pad_id)

    def trained_tokens(self, micro: list[list[int]]) -> int:
        # Per sample, so it equals the count in the collated batch whether packed or padded.
        return sum(self.samples[i].trained_tokens for row in micro for i in row)

    def _order(self, epoch: int) -> list[list[list[int]]]:
        n, size = len(self.rows), self.micro_batch_size
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=gen).tolist() if self.shuffle else list(range(n))
        if self.group_by_length:
            # Sort by length inside windows of MEGABATCH micro-batches (so batches hold similar
            # lengths and little padding), then shuffle the batches themselves.
            window = size * MEGABATCH
            order = [i for w in range(0, n, window)
                     for i in sorted(order[w:w + window], key=lambda r: -self.row_lengths[r])]
        batches = [[self.rows[r] for r in order[b:b + size]] for b in range(0, n, size)]
        if self.group_by_length and self.shuffle:
            perm = torch.randperm(len(batches), generator=gen).tolist()
            batches = [batches[p] for p in perm]
        return batches
