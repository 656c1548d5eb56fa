"""Quantized bases: whether bitsandbytes' 4-bit backward can be trusted on this machine (QLoRA off CUDA).

`train` calls `check_4bit_backward` right after a 4-bit model loads on a device other than CUDA.
"""

from __future__ import annotations

import torch
from torch import nn

from tunesmith.errors import ConfigError


def check_4bit_backward(model: nn.Module, atol: float = 1e-4) -> None:
    """Refuse QLoRA where bitsandbytes' 4-bit backward is wrong (it warns that it may be, off CUDA).

    For the first 4-bit layer, the gradient of a random input through the quantized layer must
    equal the gradient through a plain linear layer holding the dequantized weight; otherwise the
    adapters would learn from wrong gradients, silently.
    """
    import bitsandbytes as bnb

    layer = next((m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)), None)
    if layer is None:
        return
    weight = bnb.functional.dequantize_4bit(layer.weight.data, layer.weight.quant_state).float()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, weight.shape[1], generator=gen).to(layer.weight.device)
    x_q = x.clone().to(layer.compute_dtype or torch.float32).requires_grad_(True)
    x_d = x.clone().requires_grad_(True)
    grad_out = torch.randn(3, weight.shape[0], generator=gen).to(x.device)
    (layer(x_q).float() * grad_out).sum().backward()
    (nn.functional.linear(x_d, weight) * grad_out).sum().backward()
    if x_q.grad is None:  # seen on AVX512-BF16 CPUs: no gradient reaches the layer's input at all
        raise ConfigError(f"method qlora: bitsandbytes' 4-bit backward on {x.device.type} is wrong here "
                          "(no gradient reaches the input of a 4-bit layer, so every layer below it would "
                          "learn from wrong gradients)",
                          "run QLoRA on a CUDA GPU, or use method.name=lora with model.load_in_4bit=false")
    err = (x_q.grad.float() - x_d.grad).abs().max().item()
    scale = x_d.grad.abs().max().item()
    if not err <= atol * max(scale, 1.0) * 10:
        raise ConfigError(
            f"method qlora: bitsandbytes' 4-bit backward on {x.device.type} is wrong here "
            f"(input-gradient error {err:.3g} vs the dequantized layer)",
            "run QLoRA on a CUDA GPU, or use method.name=lora with model.load_in_4bit=false")
