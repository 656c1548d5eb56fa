"""The one sample type: token ids and their labels, as rendering makes them and training, evaluation,
inspection and batching use them.

A label is the token id where the loss is taken and IGNORE_INDEX (-100, PyTorch's cross-entropy default)
everywhere else. `labels[i]` is the target of the prediction made at position i - 1, so `labels[0]` is
never a target: `trained_tokens` is the count every loss divides by.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = -100


@dataclass
class Sample:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False
    turns_cut: int = 0  # oldest turns removed to fit max_seq_len

    def __post_init__(self):
        if len(self.input_ids) != len(self.labels):
            raise ValueError(f"input_ids ({len(self.input_ids)}) and labels ({len(self.labels)}) differ in length")

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained_tokens(self) -> int:
        """Tokens that carry loss: labels[0] is never a target (token t predicts token t+1)."""
        return sum(1 for y in self.labels[1:] if y != IGNORE_INDEX)
