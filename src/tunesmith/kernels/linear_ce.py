"""Linear + cross-entropy without the full logits tensor.

A Llama forward ends with `logits = hidden @ W.T` over the whole vocabulary: for Llama 2 (32k vocab),
micro-batch 4 and 2048 tokens that is 256M floats, plus as much again for its gradient and for the
fp32 upcast that the loss needs. That is often the largest single allocation of a fine-tuning step.

`linear_cross_entropy(hidden, weight, labels)` keeps only the positions that are trained (in SFT the
prompt, padding and packing gaps are often half the tokens) and walks over them in chunks: for each
chunk it computes the logits, the loss and, at once, the gradients with respect to the chunk's hidden
states and to the weight, then frees the logits. Backward only scales the stored gradients. This is the
algorithm of Liger's FusedLinearCrossEntropy, in plain PyTorch so it runs (and is tested) on CPU;
on a GPU `torch.compile` fuses the chunk body.

The loss is a SUM over trained tokens (labels != -100): the training loop divides by the number of
trained tokens of the whole gradient-accumulation window, which a per-micro-batch mean cannot do.
"""

from __future__ import annotations

import torch

from tunesmith.text.sample import IGNORE_INDEX


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_tokens: int, weight_needs_grad: bool):
        # hidden: [N, H] (already shifted so that hidden[i] predicts labels[i]); weight: [V, H]; labels: [N]
        # Only trained rows need logits at all: prompts, padding and packing gaps are skipped outright.
        rows = (labels != IGNORE_INDEX).nonzero().squeeze(1)
        grad_hidden = torch.zeros_like(hidden) if hidden.requires_grad else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if weight_needs_grad else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, rows.numel(), chunk_tokens):
            idx = rows[start:start + chunk_tokens]
            h, y = hidden[idx], labels[idx]
            logits = (h @ weight.t()).float()                       # [c, V], freed at the end of the chunk
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, y.unsqueeze(1)).squeeze(1)).sum()
            # d(sum loss)/d(logits) = softmax - onehot
            probs = torch.exp_(logits.sub_(lse.unsqueeze(1)))
            probs[torch.arange(y.numel(), device=y.device), y] -= 1.0
            g = probs.to(h.dtype)
            if grad_hidden is not None:
                grad_hidden[idx] = g @ weight
            if grad_weight is not None:
                grad_weight += (g.t() @ h).float()
            del logits, probs, g, lse  # before the next chunk's logits exist: one chunk at a time, not two
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_hidden, grad_weight = ctx.saved_tensors
        gh = grad_hidden * grad_out.to(grad_hidden.dtype) if grad_hidden is not None else None
        gw = (grad_weight * grad_out).to(ctx.weight_dtype) if grad_weight is not None else None
        return gh, gw, None, None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                         chunk_tokens: int = 1024) -> torch.Tensor:
    """Sum of next-token cross-entropy over trained positions, never holding all logits.

    `hidden` is [B, T, H] (the decoder's final, normed hidden states), `labels` [B, T] with -100 on
    untrained positions; the usual causal shift (position t predicts token t+1) happens here.
    """
    h = hidden[:, :-1, :].reshape(-1, hidden.shape[-1])
    y = labels[:, 1:].reshape(-1)
    return _LinearCrossEntropy.apply(h, weight, y, chunk_tokens, weight.requires_grad)


def reference_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The plain path (full logits), summed over trained tokens: what `linear_cross_entropy` must equal."""
    logits = (hidden[:, :-1, :] @ weight.t()).float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                             ignore_index=IGNORE_INDEX, reduction="sum")
