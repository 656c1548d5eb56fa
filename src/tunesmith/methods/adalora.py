"""`adalora`: LoRA whose ranks are pruned by importance during training (PEFT's AdaLoraConfig).

AdaLoRA starts every adapted matrix at rank `r` and prunes towards an average `target_r`, spending the
budget where the gradients say it matters. Pruning happens after each optimizer step
(`after_optimizer_step`), and its running importance scores are part of an exact resume
(`checkpoint_state`). With nothing to prune (target_r == r) PEFT's allocator asks for the 0th smallest
score and fails steps into the run (`kthvalue(): selected number k out of range`): `check` refuses
that before anything loads.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunesmith.errors import ConfigError
from tunesmith.methods.base import Method, peft_wrap, register, resolve_targets
from tunesmith.methods.lora import LowRankOptions, dropout_overhead


class AdaLoraOptions(LowRankOptions):
    name: Literal["adalora"] = Field("adalora", description=(
        "Fine-tuning method: adalora (LoRA with ranks pruned by importance during training)."))
    target_r: int = Field(4, gt=0, description="AdaLoRA: average rank after pruning (below the initial rank r).")


def schedule(total_steps: int) -> tuple[int, int, int]:
    """(total_step, tinit, tfinal) for PEFT. Warm up on the full rank for the first 10% of steps, prune
    until 30% before the end, then hold the final ranks: the schedule of the AdaLoRA paper's experiments,
    scaled to this run. Runs too short for it prune from the first step to the last.

    The schedule cannot crash PEFT's allocator (k = initial budget - budget stays in 1..initial budget at
    every masking step) as long as target_r < r: tinit + tfinal < total_step always holds, so the final
    forced mask at step total_step - tfinal is past the warm-up."""
    steps = max(int(total_steps), 1)
    tinit, tfinal = steps // 10, (3 * steps) // 10
    if tinit + tfinal >= steps:
        tinit, tfinal = 0, 0
    return steps, tinit, tfinal


@register
class AdaLora(Method):
    name = "adalora"
    summary = "LoRA with ranks pruned by importance during training"
    options = AdaLoraOptions
    merges = True
    peft_type = "ADALORA"
    label = "AdaLoRA"

    def check(self, cfg, dist):
        super().check(cfg, dist)
        opts: AdaLoraOptions = cfg.method
        if opts.target_r > opts.r:
            raise ConfigError(f"method.target_r={opts.target_r} is above the initial rank method.r={opts.r}",
                              f"AdaLoRA prunes ranks down: set method.target_r below {opts.r}, "
                              f"or method.r above {opts.target_r}")
        if opts.target_r == opts.r:
            raise ConfigError(
                f"method.target_r={opts.target_r} equals the initial rank method.r={opts.r}: AdaLoRA would have "
                "no rank to prune, and PEFT's allocator fails at its first pruning step "
                "(kthvalue(): selected number k out of range)",
                f"set method.r above method.target_r (e.g. method.r={2 * opts.target_r} with "
                f"method.target_r={opts.target_r}), or use method.name=lora for a fixed rank {opts.r}")
        if dist.enabled and cfg.train.distributed == "fsdp":
            raise ConfigError("method adalora cannot run under FSDP: its rank allocator needs whole, unsharded "
                              "matrices", "use train.distributed=ddp")

    def apply(self, model, opts: AdaLoraOptions, ctx):
        from peft import AdaLoraConfig

        if opts.target_r > opts.r:  # check() says so before training; apply() alone (estimate, tests) too.
            # Equal ranks build a valid adapter: only pruning (training) fails on them, and check() refuses that.
            raise ConfigError(f"method.target_r={opts.target_r} is above the initial rank method.r={opts.r}",
                              "AdaLoRA prunes ranks down: set method.target_r below method.r")
        steps, tinit, tfinal = schedule(ctx.total_steps)
        return peft_wrap(model, AdaLoraConfig(
            task_type="CAUSAL_LM", init_r=opts.r, target_r=opts.target_r, lora_alpha=opts.alpha,
            lora_dropout=opts.dropout, target_modules=resolve_targets(model, opts.target_modules),
            total_step=steps, tinit=tinit, tfinal=tfinal, deltaT=1))

    def after_optimizer_step(self, model, step):
        # AdaLoRA prunes ranks from the gradients' importance: after the step, before zero_grad.
        model.base_model.update_and_allocate(step)

    def regulariser(self, model):
        # AdaLoraModel.forward's orthogonal regulariser (PEFT adds it to outputs.loss when labels are given):
        # mean over the adapted A and B of ||A A^T - I||_F and ||B^T B - I||_F, times orth_reg_weight.
        import torch

        adapter = model.base_model.trainable_adapter_name
        terms = []
        for n, p in model.base_model.model.named_parameters():
            if ("lora_A" in n or "lora_B" in n) and adapter in n:
                cov = p @ p.T if "lora_A" in n else p.T @ p
                terms.append(torch.norm(cov - torch.eye(*cov.shape, device=cov.device, dtype=cov.dtype), p="fro"))
        return model.peft_config[adapter].orth_reg_weight * torch.stack(terms).mean() if terms else 0.0

    def checkpoint_state(self, model):
        allocator = getattr(getattr(model, "base_model", None), "rankallocator", None)
        if allocator is None:
            return None
        # the running importance scores decide future pruning
        return {"ipt": allocator.ipt, "exp_avg_ipt": allocator.exp_avg_ipt, "exp_avg_unc": allocator.exp_avg_unc,
                "rank_pattern": model.peft_config["default"].rank_pattern}

    def restore_state(self, model, state):
        allocator = model.base_model.rankallocator
        allocator.ipt, allocator.exp_avg_ipt = state["ipt"], state["exp_avg_ipt"]
        allocator.exp_avg_unc = state["exp_avg_unc"]
        model.peft_config["default"].rank_pattern = state["rank_pattern"]

    def activation_overhead(self, opts, hidden, intermediate):
        return dropout_overhead(opts, hidden, intermediate)
