"""Evaluate a run (and, with `base=True`, the model it started from) on held-out records and/or
multiple-choice files, with the same prompts for both.

Both models get the prompts rendered with the run's template: the comparison shows what tuning
changed for the same input. Each difference is tuned − base of the corpus metric the table shows,
with a paired bootstrap 95% interval over the records (tunesmith.evaluate.bootstrap), so that a gap
that the noise of a small set could explain is shown as such, not as a win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.evaluate import bootstrap, metrics
from tunesmith.evaluate.bootstrap import Difference
from tunesmith.evaluate.choice import ChoiceResult, evaluate_choice, load_subjects
from tunesmith.evaluate.loss import LossResult, masked_loss, rendered_set
from tunesmith.infer.batch import asked
from tunesmith.infer.generate import Sampling, fit, generate_batch


@dataclass
class ModelScores:
    label: str                                  # "tuned" or "base"
    loss: LossResult | None = None
    generation: dict[str, float] | None = None  # corpus scores (metrics.METRIC_NAMES)
    per_sample: list[dict] = field(default_factory=list)
    bleu_stats: list[metrics.BleuStats] = field(default_factory=list)   # per sample: corpus BLEU sums them
    answers: list[str] = field(default_factory=list)
    finish: list[str] = field(default_factory=list)
    choice: ChoiceResult | None = None


@dataclass
class Evaluation:
    name: str
    template: str
    method: str | None
    data: str | None = None
    choice_data: str | None = None
    records: int = 0
    bad_records: list[str] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)      # prompt, reference, source per generated sample
    tuned: ModelScores = field(default_factory=lambda: ModelScores("tuned"))
    base: ModelScores | None = None
    differences: list[Difference] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def read_records(path) -> tuple[list, list[str]]:
    """Records with an answer (Examples) and the problems of those that could not be read."""
    from tunesmith.records.formats import BadRecord, read

    good, bad = [], []
    for item in read(path):
        if isinstance(item, BadRecord):
            bad.append(f"{item.where()}: {item.reason}")
        else:
            good.append(item)
    return good, bad


def evaluate(target, *, data=None, choice=None, base: bool = False, max_samples: int | None = None,
             sampling: Sampling | None = None, batch_size: int = 8, shots: int = 0,
             progress: bool = True) -> Evaluation:
    from tunesmith.errors import TunesmithError

    if data is None and choice is None:
        raise TunesmithError("nothing to evaluate", "give --data FILE (records with answers) and/or --choice DIR")
    sampling = sampling or Sampling(max_new_tokens=128)
    run = target.run
    ev = Evaluation(target.name, target.template.name, target.method, str(data) if data else None,
                    str(choice) if choice else None,
                    settings={"max_new_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                              "max_samples": max_samples, "shots": shots, "batch_size": batch_size})
    examples, rendered, prompts, subjects = [], [], [], []
    if data is not None:
        examples, ev.bad_records = read_records(data)
        ev.records = len(examples)
        if not examples:
            raise TunesmithError(f"{data}: no readable record with an answer", "eval needs records whose last turn "
                                                                               "is the reference answer")
        max_len = run.template.max_seq_len if run else target.context
        rendered, skipped = rendered_set(examples, target.template, target.tokenizer, max_seq_len=max_len,
                                         truncation=run.template.truncation if run else "cut_oldest")
        ev.bad_records += [f"not scored for loss: {s}" for s in skipped]
        chosen = examples[:max_samples] if max_samples else examples
        for ex in chosen:
            ids = target.prompt_ids(ex)
            if len(ids) >= target.context:
                ev.bad_records.append(f"{_where(ex)}: prompt of {len(ids)} tokens does not fit the context")
                continue
            prompts.append(ids)
            ev.samples.append({"source": _where(ex), "prompt": asked(ex), "reference": ex.output})
    if choice is not None:
        subjects = load_subjects(choice)
    # every prompt of a batch must fit: cut the answer length to what the longest prompt leaves
    batch_sampling = fit(max(map(len, prompts)), sampling, target.context) if prompts else sampling

    def score(model, label: str) -> ModelScores:
        scores = ModelScores(label)
        if rendered:
            scores.loss = masked_loss(model, rendered, target.tokenizer.pad_token_id or 0, batch_size=batch_size,
                                      progress=progress, desc=f"loss ({label})")
        if prompts:
            answers = generate_batch(model, target.tokenizer, prompts, batch_sampling, target.stop_ids,
                                     batch_size=batch_size, progress=progress, desc=f"answers ({label})")
            scores.answers = [a.text for a in answers]
            scores.finish = [a.finish_reason for a in answers]
            refs = [s["reference"] for s in ev.samples]
            scores.per_sample, scores.bleu_stats = metrics.score_samples(scores.answers, refs)
            scores.generation = metrics.corpus(scores.per_sample, scores.bleu_stats)
        if subjects:
            scores.choice = evaluate_choice(model, target, subjects, shots=shots, progress=progress,
                                            desc=f"choice ({label})")
        return scores

    ev.tuned = score(target.model, "tuned")
    if base:
        with target.base() as base_model:
            ev.base = score(base_model, "base")
        ev.differences = differences(ev.tuned, ev.base)
    return ev


def differences(tuned: ModelScores, base: ModelScores) -> list[Difference]:
    """tuned − base of each corpus metric of the report's table, with its paired bootstrap interval."""
    out = []
    if tuned.loss and base.loss:
        t, b = _loss_parts(tuned.loss), _loss_parts(base.loss)
        out.append(bootstrap.paired("loss", t, b, bootstrap.token_loss, lower_better=True))
        out.append(bootstrap.paired("perplexity", t, b, bootstrap.perplexity, lower_better=True))
    if tuned.per_sample and base.per_sample:
        for name in metrics.METRIC_NAMES:
            if name == "bleu4":
                t, b = [_bleu_parts(s) for s in tuned.bleu_stats], [_bleu_parts(s) for s in base.bleu_stats]
                out.append(bootstrap.paired(metrics.LABELS[name], t, b, bootstrap.bleu))
            else:
                out.append(bootstrap.paired(metrics.LABELS[name], [s[name] for s in tuned.per_sample],
                                            [s[name] for s in base.per_sample]))
    if tuned.choice and base.choice:
        out.append(bootstrap.paired("choice accuracy", [100.0 * p["correct"] for p in tuned.choice.predictions],
                                    [100.0 * p["correct"] for p in base.choice.predictions]))
    return out


def _loss_parts(loss) -> list[tuple[float, int]]:
    return [(mean * n, n) for mean, n in zip(loss.per_record, loss.per_record_tokens, strict=True)]


def _bleu_parts(stats: metrics.BleuStats) -> tuple:
    return (*stats.correct, *stats.total, stats.hyp_len, stats.ref_len)


def _where(ex) -> str:
    meta = ex.meta or {}
    return f"{meta.get('source')}:{meta.get('line')}" if meta.get("source") else str(meta.get("id", "?"))


def default_out_dir(target, data, choice) -> Path:
    stem = Path(data).stem if data else Path(choice).name
    root = target.run_dir if target.run_dir is not None else Path("eval")
    return root / "eval" / stem if target.run_dir is not None else root / target.name / stem
