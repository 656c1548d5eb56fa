"""The training loss of one micro-batch: summed token cross-entropy over trained tokens, divided by
the trained tokens of the whole accumulation window.

Two paths give the same number (tested to float tolerance, loss and gradients):
- plain: the model's own forward with `labels` and `num_items_in_batch` (full logits tensor);
- fused (`train.fused_loss`): the decoder's hidden states go to `kernels.linear_ce`, which computes
  logits only at trained positions, a chunk at a time, with the gradients taken on the way. No
  [batch, seq, vocab] tensor exists, so the largest allocation of a step is gone.

The fused path needs the decoder and its output layer as separate modules: a Llama-family model,
possibly inside PEFT's LoRA-style tuners (which change the layers in place), in one process. Prompt
learning (prefix, prompt, p-tuning) changes the forward itself, and DDP/FSDP need their own forward
to run; those use the plain path.
"""

from __future__ import annotations

import torch

from tunesmith.kernels.linear_ce import linear_cross_entropy
from tunesmith.text.sample import IGNORE_INDEX


def split_head(model):
    """(decoder, output layer) of a causal LM, through PEFT's wrappers; None when the fused path
    cannot be used for this model."""
    from peft import PeftModel

    inner = model
    if isinstance(inner, PeftModel):
        if inner.peft_config[inner.active_adapter].is_prompt_learning:
            return None
        inner = inner.base_model.model  # LoraModel/IA3Model/... -> the transformers model, tuned in place
    decoder = getattr(inner, "model", None)
    head = getattr(inner, "lm_head", None)
    if decoder is None or type(head) is not torch.nn.Linear or head.bias is not None:
        return None  # an adapter on lm_head, or an unknown architecture
    return decoder, head


def micro_batch_loss(model, batch: dict, window_tokens: int, fused) -> torch.Tensor:
    """Loss of `batch` normalised by `window_tokens`; `fused` is split_head(model) or None."""
    if fused is None:
        return model(**batch, use_cache=False, num_items_in_batch=window_tokens).loss
    decoder, head = fused
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = decoder(**inputs, use_cache=False).last_hidden_state
    return linear_cross_entropy(hidden, head.weight, batch["labels"]) / window_tokens


def token_loss_sums(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed cross-entropy, trained tokens) of each row of `batch`, both float64 [B].

    The one masked loss of evaluation: validation in the loop and `tunesmith eval` both call it, so
    they report the same number for the same data. Labels are shifted here (position t predicts t+1);
    prompt tuning prepends virtual-token positions to the logits, which are cut off.
    """
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    labels = batch["labels"]
    logits = model(**inputs, use_cache=False).logits[:, -labels.shape[1]:].float()
    targets = labels[:, 1:]
    token_loss = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), targets,
                                                   ignore_index=IGNORE_INDEX, reduction="none")
    trained = targets != IGNORE_INDEX
    return (token_loss * trained).sum(dim=1, dtype=torch.float64), trained.sum(dim=1, dtype=torch.float64)
