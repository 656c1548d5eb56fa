"""Training objectives: the seam the training loop calls for a micro-batch's loss (`train.objective`).

    objective = objectives.build(cfg)                 # sft | dpo | ipo | simpo | orpo
    norm = objective.normaliser(batcher, window)      # what the whole accumulation window divides by
    loss, stats = objective.loss(model, batch, norm, fused)

`sft` is token cross-entropy over the window's trained tokens (train.loss). The preference objectives
train on pairs (text.render_pair, train.preference.PairBatcher): each micro-batch is ONE forward of
its chosen and rejected rows, every pair's loss is summed and divided by the pairs of the whole window
(all micro-batches, all processes), so grad_accum 2 x micro-batch 1 equals 1 x 2. With y_w chosen,
y_l rejected, log-probs summed over an answer's labelled tokens (avg = divided by its token count):

  dpo    -(1-e) logsig(b D) - e logsig(-b D),  D = [log p(y_w) - log ref(y_w)] - [log p(y_l) - log ref(y_l)]
         (e = label_smoothing: conservative DPO; TRL's CPO "sigmoid" form)
  ipo    (D_avg - 1/(2b))^2 with per-token averaged log-ratios (TRL's normalised IPO)
  simpo  -(1-e) logsig(b (avg p(y_w) - avg p(y_l)) - gamma) - e logsig(-...)      (no reference)
  orpo   NLL(y_w) - b logsig(log odds(y_w) - log odds(y_l)), odds from avg log-probs (no reference);
         the NLL is over the chosen answer's tokens (the ORPO paper, LLaMA-Factory), normalised by the
         window's chosen tokens. TRL's ORPOTrainer also counts the prompt's tokens in the NLL; we do not.

Rewards (logged): b x the log-ratio to the reference (dpo, ipo) or b x the averaged log-prob (simpo,
orpo). Preference accuracy: the share of pairs whose chosen reward is higher, a tie counting one half
(at step 0 DPO's rewards are all 0: no preference reads 0.5; TRL counts ties as wrong).

`check(cfg)` is the method x objective rule, run by train.preflight before the model loads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunesmith.errors import ConfigError
from tunesmith.train import distributed, preference
from tunesmith.train.loss import micro_batch_loss

OBJECTIVES = ("sft", "dpo", "ipo", "simpo", "orpo")
USES_REFERENCE = frozenset({"dpo", "ipo"})
SMOOTHED = frozenset({"dpo", "simpo"})  # the objectives label_smoothing applies to


def check(cfg) -> None:
    """Raise ConfigError for an objective the run's settings cannot train, before anything loads.

    Every registry method trains every objective: adapter methods (lora, qlora, dora, adalora, ia3,
    prefix, prompt, ptuning) take the reference from the same model with adapters disabled (for
    prompt learning PEFT runs the base model without the virtual tokens; tested equal to the base
    model), full and freeze from log-probabilities cached at step 0. What cannot work is refused here."""
    tc = cfg.train
    name = tc.objective
    if name == "sft":
        return
    if tc.packing:
        raise ConfigError(f"train.packing=true does not work with train.objective={name}: a pair is two sequences "
                          "compared with each other, and packing would mix pairs in a row",
                          "set train.packing=false (dynamic padding and group_by_length keep padding low)")
    if tc.label_smoothing and name not in SMOOTHED:
        raise ConfigError(f"train.label_smoothing={tc.label_smoothing} has no meaning for train.objective={name}",
                          f"set train.label_smoothing=0 (it applies to {' and '.join(sorted(SMOOTHED))})")


def reference_kind(cfg) -> str | None:
    """How the run gets its reference: "adapters_off", "cached", or None (no reference needed)."""
    if cfg.train.objective not in USES_REFERENCE:
        return None
    from tunesmith import methods

    return "adapters_off" if methods.get(cfg.method.name).saves == "adapter" else "cached"


# ---------------------------------------------------------------------------------------------
# The formulas, on per-pair tensors
# ---------------------------------------------------------------------------------------------

def pair_losses(name: str, beta: float, chosen: torch.Tensor, rejected: torch.Tensor, chosen_n: torch.Tensor,
                rejected_n: torch.Tensor, ref_chosen: torch.Tensor | None = None,
                ref_rejected: torch.Tensor | None = None, label_smoothing: float = 0.0,
                simpo_gamma: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss per pair, chosen reward, rejected reward) from summed log-probs and token counts. ORPO's NLL
    term is not in it (it is per token, see PreferenceObjective)."""
    cn, rn = chosen_n.clamp_min(1).to(chosen.dtype), rejected_n.clamp_min(1).to(chosen.dtype)
    if name in USES_REFERENCE:
        chosen_ratio, rejected_ratio = chosen - ref_chosen, rejected - ref_rejected
        rewards = beta * chosen_ratio.detach(), beta * rejected_ratio.detach()
        if name == "dpo":
            return _smoothed(beta * (chosen_ratio - rejected_ratio), label_smoothing), *rewards
        delta = chosen_ratio / cn - rejected_ratio / rn
        return (delta - 1 / (2 * beta)) ** 2, *rewards
    avg_chosen, avg_rejected = chosen / cn, rejected / rn
    rewards = beta * avg_chosen.detach(), beta * avg_rejected.detach()
    if name == "simpo":
        return _smoothed(beta * (avg_chosen - avg_rejected) - simpo_gamma, label_smoothing), *rewards
    if name == "orpo":
        log_odds = (avg_chosen - avg_rejected) - (_log1mexp(avg_chosen) - _log1mexp(avg_rejected))
        return -beta * F.logsigmoid(log_odds), *rewards
    raise ValueError(f"unknown preference objective {name!r}")


def score_pairs(name: str, policy: torch.Tensor, reference: torch.Tensor | None, pairs, *, beta: float = 0.1,
                label_smoothing: float = 0.0, simpo_gamma: float = 0.5) -> dict:
    """Preference accuracy, mean reward margin and mean loss of `pairs` (PairSamples) under objective `name`,
    from [N, 2] summed log-probs (chosen, rejected) of the policy and of the reference (train.preference.pair_logps;
    the reference may be None for simpo/orpo). What `tunesmith eval` reports for tuned vs base; the same
    formulas as training (orpo's loss here is its odds-ratio term only)."""
    chosen_n = torch.tensor([p.chosen.trained_tokens for p in pairs])
    rejected_n = torch.tensor([p.rejected.trained_tokens for p in pairs])
    ref = (None, None) if reference is None else (reference[:, 0].float(), reference[:, 1].float())
    losses, reward_chosen, reward_rejected = pair_losses(name, beta, policy[:, 0].float(), policy[:, 1].float(),
                                                         chosen_n, rejected_n, *ref, label_smoothing, simpo_gamma)
    margin = reward_chosen - reward_rejected
    return {"preference_accuracy": float(((margin > 0).float() + 0.5 * (margin == 0).float()).mean()),
            "reward_margin": float(margin.mean()), "loss": float(losses.mean()), "pairs": len(pairs)}


def _smoothed(logits: torch.Tensor, eps: float) -> torch.Tensor:
    return -(1 - eps) * F.logsigmoid(logits) - eps * F.logsigmoid(-logits)


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable on both sides of -ln 2."""
    return torch.where(x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


# ---------------------------------------------------------------------------------------------
# What the loop calls
# ---------------------------------------------------------------------------------------------

class SFTObjective:
    """Token cross-entropy over the window's trained tokens (train.loss)."""

    name, pairs = "sft", False

    def prepare(self, **_) -> None:
        pass

    def empty_stats(self) -> dict:
        return {}

    def normaliser(self, batcher, window) -> dict:
        return {"tokens": max(sum(batcher.trained_tokens(m) for m in window), 1)}

    def loss(self, model, batch: dict, norm: dict, fused) -> tuple[torch.Tensor, dict]:
        return micro_batch_loss(model, batch, norm["tokens"], fused), {}

    def step_metrics(self, stats: dict, d) -> dict:
        return {}


class PreferenceObjective:
    """dpo, ipo, simpo, orpo on pair batches (see the module doc)."""

    pairs = True

    def __init__(self, cfg):
        tc = cfg.train
        self.name, self.beta = tc.objective, tc.beta
        self.label_smoothing, self.simpo_gamma = tc.label_smoothing, tc.simpo_gamma
        self.cfg = cfg
        self.reference = None  # set by prepare(); tests may set it directly

    def prepare(self, *, model, peft_model, samples, val_samples, micro_batch_size, run_root, resumed, d,
                autocast_ctx) -> None:
        """Set up the reference before the first step (and before a checkpoint's weights are loaded)."""
        kind = reference_kind(self.cfg)
        if kind == "adapters_off":
            self.reference = preference.AdaptersOff(distributed.unwrap(model), peft_model)
        elif kind == "cached":
            from tunesmith.train.loss import split_head

            fused = split_head(model) if not d.enabled else None
            compute = lambda pairs: preference.pair_logps(model, pairs, micro_batch_size, d, autocast_ctx, fused)  # noqa: E731
            self.reference = preference.cached_reference(run_root, samples, val_samples or [], resumed, compute,
                                                         write=d.main)

    def empty_stats(self) -> dict:
        keys = ["pairs", "rewards/chosen", "rewards/rejected", "rewards/margin", "preference_accuracy"]
        return dict.fromkeys(keys + (["nll"] if self.name == "orpo" else []), 0.0)

    def normaliser(self, batcher, window) -> dict:
        return {"pairs": max(sum(batcher.pairs(m) for m in window), 1),
                "chosen_tokens": max(sum(batcher.chosen_tokens(m) for m in window), 1)}

    def loss(self, model, batch: dict, norm: dict, fused, split: str = "train") -> tuple[torch.Tensor, dict]:
        batch = dict(batch)
        pair_ids = batch.pop("pair_ids")
        sums, counts = preference.sequence_logps(model, batch, fused)
        chosen, rejected = sums.chunk(2)
        chosen_n, rejected_n = counts.chunk(2)
        ref_chosen = ref_rejected = None
        if self.reference is not None:
            ref_chosen, ref_rejected = self.reference.logps(batch, pair_ids, fused, split).float().chunk(2)
        losses, reward_chosen, reward_rejected = pair_losses(
            self.name, self.beta, chosen, rejected, chosen_n, rejected_n, ref_chosen, ref_rejected,
            self.label_smoothing, self.simpo_gamma)
        loss = losses.sum() / norm["pairs"]
        stats = {}
        if self.name == "orpo":
            nll = -chosen.sum() / norm["chosen_tokens"]
            loss = loss + nll
            stats["nll"] = float(nll.detach())
        margin = reward_chosen - reward_rejected
        stats.update({"pairs": len(margin), "rewards/chosen": float(reward_chosen.sum()),
                      "rewards/rejected": float(reward_rejected.sum()), "rewards/margin": float(margin.sum()),
                      "preference_accuracy": float((margin > 0).sum() + 0.5 * (margin == 0).sum())})
        return loss, stats

    def step_metrics(self, stats: dict, d) -> dict:
        """The window's sums (every process's) as means per pair; ORPO's NLL as the window's value."""
        total = {k: distributed.sum_across(v, d) for k, v in sorted(stats.items())}
        pairs = max(total.pop("pairs", 0), 1)
        out = {k: v / pairs for k, v in total.items() if k != "nll"}
        if "nll" in total:
            out["nll"] = total["nll"]
        return out

    @torch.no_grad()
    def evaluate(self, model, samples, micro_batch_size: int, d, autocast_ctx, fused=None) -> dict:
        """eval_loss and eval_ rewards/accuracy over held-out pairs, every pair weighted equally."""
        was_training = model.training
        model.eval()
        batcher = preference.PairBatcher(samples, micro_batch_size, 0, group_by_length=False, shuffle=False)
        norm = {"pairs": len(samples), "chosen_tokens": sum(p.chosen.trained_tokens for p in samples)}
        sums = self.empty_stats()  # the same keys on every process: sum_across is collective
        loss = 0.0
        rounds = -(-len(batcher) // d.world_size)  # FSDP: every process runs the same number of forwards
        for index in range(d.rank, rounds * d.world_size, d.world_size):
            batch = {k: t.to(d.device) for k, t in batcher.collate(batcher.micro_batch(index % len(batcher))).items()}
            with autocast_ctx():
                micro, stats = self.loss(model, batch, norm, fused, split="val")
            if index >= len(batcher):
                continue  # a filler forward keeps the processes in step; not counted
            loss += float(micro)
            for k, v in stats.items():
                sums[k] += v
        model.train(was_training)
        out = {"eval_loss": distributed.sum_across(loss, d)}
        out.update({f"eval_{k}": v for k, v in self.step_metrics(sums, d).items()})
        return out


def build(cfg):
    return SFTObjective() if cfg.train.objective == "sft" else PreferenceObjective(cfg)

