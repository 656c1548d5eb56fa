"""The fused loss (logits only at trained positions, chunked) equals the model's own loss: value and
gradients, padded and packed, full and adapter methods; it steps aside where it cannot apply."""

from __future__ import annotations

import pytest
import torch
from run_factory import method_block
from test_train_loop import config, samples

from tunesmith import methods
from tunesmith.text.batching import pack_batch, pad_batch
from tunesmith.train.loop import train
from tunesmith.train.loss import micro_batch_loss, split_head


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(tiny_model_dir, method: str):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = methods.apply(model, methods.options(**method_block(method, r=4, dropout=0.0)),
                          methods.MethodContext(total_steps=10))
    for p in model.parameters():  # adapters start as a no-op (LoRA B = 0): give them something to do
        if p.requires_grad:
            p.data.add_(torch.randn_like(p) * 0.02)
    return model


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}


@pytest.mark.parametrize("method", ["full", "lora", "dora", "ia3"])
@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_fused_equals_plain_loss_and_gradients(tiny_model_dir, method, layout):
    model = _model(tiny_model_dir, method)
    data = samples(6, seed=1)
    batch = pad_batch(data, 0) if layout == "padded" else pack_batch([data[:3], data[3:]], 0)
    tokens = sum(s.trained_tokens for s in data)
    fused = split_head(model)
    assert fused is not None
    plain_loss = micro_batch_loss(model, batch, tokens, None)
    plain = _grads(model, plain_loss)
    fused_loss = micro_batch_loss(model, batch, tokens, fused)
    got = _grads(model, fused_loss)
    torch.testing.assert_close(fused_loss, plain_loss, rtol=1e-5, atol=1e-6)
    assert got.keys() == plain.keys() and got
    for name, g in plain.items():
        torch.testing.assert_close(got[name], g, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("method", ["prefix", "prompt", "ptuning"])
def test_prompt_learning_keeps_the_plain_path(tiny_model_dir, method):
    assert split_head(_model(tiny_model_dir, method)) is None


@pytest.mark.parametrize("method", ["lora", "adalora"])  # adalora: its orthogonal regulariser on both paths
def test_training_losses_match_with_and_without_fused_loss(tiny_model_dir, tmp_path, method):
    data = samples(8, seed=5)
    common = dict(max_steps=3, warmup_ratio=0, micro_batch_size=4, group_by_length=False)
    runs = {}
    for fused in (False, True):
        cfg = config(tiny_model_dir, tmp_path / f"fused-{fused}", method, fused_loss=fused, **common)
        if method == "adalora":
            cfg.method.r = 8  # above target_r: ranks to prune
        runs[fused] = train(cfg, samples=data, progress=False)
    assert runs[True].losses == pytest.approx(runs[False].losses, rel=1e-5)


def test_adaloras_regulariser_is_pefts(tiny_model_dir):
    """The term the loop adds where PEFT's forward is bypassed is the one that forward adds."""
    model = _model(tiny_model_dir, "adalora")
    batch = pad_batch(samples(4, seed=2), 0)
    with_labels = model(**batch).loss                                   # PEFT adds the regulariser here
    plain = model.base_model.model(**batch).loss                        # the LoRA model without it
    reg = methods.get("adalora").regulariser(model)
    assert float(reg.detach()) > 0
    torch.testing.assert_close(with_labels, plain + reg)
