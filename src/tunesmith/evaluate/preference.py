"""`tunesmith eval RUN --pairs FILE`: does the tuned model prefer the chosen answers, and more than its base?

Each pair is rendered exactly as a preference run trains on it (text.render_pair: the run's template, the
shared prompt, labels on each answer and its end token), and each model scores both answers by the summed
log-probability of their labelled tokens (train.preference.pair_logps, the function training uses).

Per model (tuned, and with `base` the model before tuning):
  preference accuracy        share of pairs with log p(chosen) > log p(rejected) (a tie counts one half)
  per-token accuracy         the same with each answer's log-probability averaged over its tokens (SimPO's
                             length-fair score: a longer answer's sum is lower for its length alone)
  mean log-prob margin       mean of log p(chosen) − log p(rejected), in nats
With the base, the tuned model's DPO implicit reward against it, r(y) = beta * (log p_tuned(y) − log p_base(y)):
  reward accuracy            share of pairs whose chosen reward is higher (the "rewards/accuracies" a DPO
                             trainer logs on held-out pairs; 0.5 means tuning changed no preference)
  mean reward margin         mean of r(chosen) − r(rejected) = beta * (tuned margin − base margin)
Each tuned − base difference gets a paired bootstrap 95% interval over the pairs (evaluate.bootstrap).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch

from tunesmith.errors import DataError
from tunesmith.evaluate import bootstrap


@dataclass
class PairScores:
    label: str
    logps: list[tuple[float, float]]           # per pair: summed log p(chosen), log p(rejected)
    tokens: list[tuple[int, int]]              # per pair: labelled tokens of each answer

    def wins(self, per_token: bool = False) -> list[float]:
        out = []
        for (c, r), (nc, nr) in zip(self.logps, self.tokens, strict=True):
            if per_token:
                c, r = c / max(nc, 1), r / max(nr, 1)
            out.append(1.0 if c > r else 0.5 if c == r else 0.0)
        return out

    def margins(self) -> list[float]:
        return [c - r for c, r in self.logps]

    def summary(self) -> dict:
        n = max(len(self.logps), 1)
        return {"preference_accuracy": sum(self.wins()) / n, "per_token_accuracy": sum(self.wins(True)) / n,
                "mean_logp_margin": sum(self.margins()) / n}


@dataclass
class PairEvaluation:
    data: str
    beta: float
    pairs: int
    tuned: PairScores
    base: PairScores | None = None
    skipped: list[str] = field(default_factory=list)     # unreadable, not pairs, or too long
    differences: list[bootstrap.Difference] = field(default_factory=list)

    def reward(self) -> dict | None:
        """The tuned model's DPO implicit reward against the base, over the pairs (None without the base)."""
        if self.base is None:
            return None
        margins = self.reward_margins()
        n = max(len(margins), 1)
        return {"reward_accuracy": sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / n,
                "mean_reward_margin": sum(margins) / n}

    def reward_margins(self) -> list[float]:
        return [self.beta * (t - b) for t, b in zip(self.tuned.margins(), self.base.margins(), strict=True)]

    def to_dict(self) -> dict:
        out = {"data": self.data, "beta": self.beta, "pairs": self.pairs, "skipped": self.skipped,
               "tuned": self.tuned.summary(), "base": self.base.summary() if self.base else None,
               "reward_vs_base": self.reward(),
               "differences": [asdict(d) | {"verdict": d.verdict} for d in self.differences]}
        return out


def read_pairs(path, template, tokenizer, *, max_seq_len: int, truncation: str, system: str | None):
    """(PairSamples, why each other record was left out) of a pair file."""
    from tunesmith.records.formats import BadRecord, read
    from tunesmith.text.render import TooLong
    from tunesmith.text.render_pair import render_pair

    samples, skipped = [], []
    for item in read(path):
        if isinstance(item, BadRecord):
            skipped.append(f"{item.where()}: {item.reason}")
            continue
        where = f"{item.meta.get('source')}:{item.meta.get('line')}"
        if not item.is_pair:
            skipped.append(f"{where}: not a preference pair (no rejected answer)")
            continue
        if item.system is None and system:
            item.system = system
        try:
            samples.append(render_pair(item, template, tokenizer, max_seq_len=max_seq_len, truncation=truncation))
        except TooLong as e:
            skipped.append(e.message)
    if not samples:
        raise DataError(f"{path}: no preference pair to score" + (f" ({skipped[0]})" if skipped else ""),
                        "give a file of pairs: LLaMA-Factory's conversations/chosen/rejected, or TRL's "
                        "prompt/chosen/rejected (see tunesmith data convert --help)")
    return samples, skipped


def score(model, label: str, samples, batch_size: int) -> PairScores:
    from tunesmith.train.preference import pair_logps

    one = SimpleNamespace(device=model.device, rank=0, world_size=1, enabled=False)  # a single process
    table = pair_logps(model, samples, batch_size, one).cpu().tolist()
    tokens = [(p.chosen.trained_tokens, p.rejected.trained_tokens) for p in samples]
    return PairScores(label, [(float(c), float(r)) for c, r in table], tokens)


@torch.no_grad()
def evaluate_pairs(target, path, *, base: bool = False, batch_size: int = 8, beta: float | None = None
                   ) -> PairEvaluation:
    """Score the pairs in `path` with the target's model (and its base): see the module doc."""
    run = target.run
    samples, skipped = read_pairs(path, target.template, target.tokenizer,
                                  max_seq_len=run.template.max_seq_len if run else target.context,
                                  truncation=run.template.truncation if run else "cut_oldest", system=target.system)
    if beta is None:
        beta = run.train.beta if run is not None and run.train.objective in ("dpo", "ipo") else 0.1
    ev = PairEvaluation(str(path), beta, len(samples), score(target.model, "tuned", samples, batch_size),
                        skipped=skipped)
    if base:
        with target.base() as base_model:
            ev.base = score(base_model, "base", samples, batch_size)
        t, b = ev.tuned, ev.base
        ev.differences = [bootstrap.paired("preference accuracy", t.wins(), b.wins()),
                          bootstrap.paired("per-token accuracy", t.wins(True), b.wins(True)),
                          bootstrap.paired("mean log-prob margin", t.margins(), b.margins())]
    return ev


def rows(ev: PairEvaluation) -> list[tuple[str, float, float | None]]:
    """(metric, tuned, base) for the table; reward rows have no base column."""
    t = ev.tuned.summary()
    b = ev.base.summary() if ev.base else {}
    out = [("preference accuracy", t["preference_accuracy"], b.get("preference_accuracy")),
           ("per-token accuracy", t["per_token_accuracy"], b.get("per_token_accuracy")),
           ("mean log-prob margin", t["mean_logp_margin"], b.get("mean_logp_margin"))]
    reward = ev.reward()
    if reward:
        out += [(f"reward accuracy (beta {ev.beta:g})", reward["reward_accuracy"], None),
                (f"mean reward margin (beta {ev.beta:g})", reward["mean_reward_margin"], None)]
    return out


def table(ev: PairEvaluation) -> str:
    width = max(len(name) for name, *_ in rows(ev))
    lines = [f"{'metric':<{width}}  {'tuned':>10}" + (f"  {'base':>10}" if ev.base else "")]
    for name, t, b in rows(ev):
        lines.append(f"{name:<{width}}  {t:>10.4f}" + (f"  {b:>10.4f}" if b is not None else ""))
    for d in ev.differences:
        lines.append(f"{d.metric}: tuned - base {d.delta:+.4f}, 95% interval [{d.low:+.4f}, {d.high:+.4f}]: "
                     f"{d.verdict}")
    return "\n".join(lines)


def write(ev: PairEvaluation, out) -> dict[str, Path]:
    """pairs.json (every number, per pair too) and pairs.md (the table) in folder `out`."""
    from tunesmith.io import atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = ev.to_dict() | {"per_pair": [
        {"tuned": list(t), "base": list(b) if b else None, "tokens": list(n)}
        for t, b, n in zip(ev.tuned.logps, ev.base.logps if ev.base else [None] * ev.pairs, ev.tuned.tokens)]}
    paths = {"pairs.json": out / "pairs.json", "pairs.md": out / "pairs.md"}
    atomic_write_text(paths["pairs.json"], json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    note = f"{ev.pairs} pairs from {ev.data}" + (f"; {len(ev.skipped)} records left out (pairs.json)" if ev.skipped else "")
    atomic_write_text(paths["pairs.md"], f"# Preference evaluation\n\n{note}\n\n```\n{table(ev)}\n```\n")
    return paths
