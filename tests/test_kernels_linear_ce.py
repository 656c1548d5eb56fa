"""The chunked linear + cross-entropy must equal the full-logits path: loss and both gradients."""

import pytest
import torch

from tunesmith.kernels.linear_ce import linear_cross_entropy, reference_cross_entropy


def _case(dtype, seed=0, b=2, t=37, h=16, v=101):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, t, h, generator=g, dtype=dtype)
    weight = (torch.randn(v, h, generator=g) * 0.1).to(dtype)
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, :10] = -100           # a prompt that is not trained
    labels[1, -5:] = -100           # padding at the end
    return hidden, weight, labels


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
@pytest.mark.parametrize("weight_trains", [True, False])
def test_loss_and_gradients_match_reference(chunk, weight_trains):
    hidden, weight, labels = _case(torch.float32)
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_(weight_trains)
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_(weight_trains)
    fused = linear_cross_entropy(h1, w1, labels, chunk_tokens=chunk)
    plain = reference_cross_entropy(h2, w2, labels)
    assert torch.allclose(fused, plain, rtol=1e-5, atol=1e-4)
    (fused * 0.5).backward()        # a non-unit upstream gradient, as gradient accumulation scales it
    (plain * 0.5).backward()
    assert torch.allclose(h1.grad, h2.grad, rtol=1e-4, atol=1e-6)
    if weight_trains:
        assert torch.allclose(w1.grad, w2.grad, rtol=1e-4, atol=1e-6)
    else:
        assert w1.grad is None


def test_bf16_is_close_to_fp32_reference():
    hidden, weight, labels = _case(torch.bfloat16, seed=1)
    fused = linear_cross_entropy(hidden, weight, labels, chunk_tokens=16)
    plain = reference_cross_entropy(hidden.float(), weight.float(), labels)
    assert torch.allclose(fused, plain, rtol=2e-2)


def test_all_tokens_masked_gives_zero_and_zero_grad():
    hidden, weight, labels = _case(torch.float32)
    labels[:] = -100
    h = hidden.clone().requires_grad_()
    loss = linear_cross_entropy(h, weight, labels)
    loss.backward()
    assert loss.item() == 0.0 and h.grad.abs().sum().item() == 0.0
