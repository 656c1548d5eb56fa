"""Training data for a run: read every file, render each record with the run's template, keep the
samples that fit, and hold out a validation split. Bad records and too-long samples are counted
and reported, never silently dropped.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from tunesmith.errors import ConfigError, DataError
from tunesmith.runs.config import RunConfig
from tunesmith.text.batching import Sample

log = logging.getLogger(__name__)


@dataclass
class TrainData:
    train: list[Sample]
    val: list[Sample]
    files: list[str]
    stats: dict = field(default_factory=dict)


def build(cfg: RunConfig, tokenizer) -> TrainData:
    from tunesmith.text.templates import get_template

    if not cfg.data.train:
        raise ConfigError("data.train is empty: no training files", "set data.train: [path/to/train.jsonl]")
    # Before reading any data: a template the tokenizer cannot render is an error now, not at record 1000.
    template = get_template(cfg.template.name, tokenizer)
    stats = {"records": 0, "bad_records": 0, "too_long": 0, "truncated": 0, "no_trained_tokens": 0}
    train_examples = _read(cfg.data.train, cfg, stats)
    val_examples = _read(cfg.data.val, cfg, stats) if cfg.data.val else []
    if not val_examples and cfg.data.val_split > 0:
        rng = random.Random(cfg.seed)
        rng.shuffle(train_examples)
        n_val = max(1, round(len(train_examples) * cfg.data.val_split))
        val_examples, train_examples = train_examples[:n_val], train_examples[n_val:]
    shortest: list[int] = []
    train = _render(train_examples, template, tokenizer, cfg, stats, shortest)
    val = _render(val_examples, template, tokenizer, cfg, {**stats}, shortest)
    if not train:
        if stats["too_long"]:
            raise ConfigError(
                f"template.max_seq_len={cfg.template.max_seq_len} is shorter than every training sample "
                f"({stats['too_long']} samples" + (f", the shortest has {min(shortest)} tokens)" if shortest else ")"),
                "raise template.max_seq_len" + (f" to at least {min(shortest)}" if shortest else ""))
        raise DataError(f"no trainable samples in {', '.join(cfg.data.train)} ({stats['records']} records read, "
                        f"{stats['bad_records']} bad)", "check data.format and the files")
    if stats["too_long"]:
        log.warning("%d samples longer than template.max_seq_len=%d were left out", stats["too_long"],
                    cfg.template.max_seq_len)
    stats.update(train_samples=len(train), val_samples=len(val),
                 train_tokens=sum(len(s) for s in train), trained_tokens=sum(s.trained_tokens for s in train))
    return TrainData(train, val, list(cfg.data.train) + list(cfg.data.val), stats)


def _read(paths: list[str], cfg: RunConfig, stats: dict) -> list:
    from tunesmith.records.formats import BadRecord, read

    examples = []
    for path in paths:
        for item in read(path, format=cfg.data.format, strict=not cfg.data.skip_bad):
            if isinstance(item, BadRecord):
                stats["bad_records"] += 1
                if stats["bad_records"] <= 5:
                    log.warning("skipped %s: %s", item.where(), item.reason)
                continue
            if item.system is None and cfg.template.system:
                item.system = cfg.template.system
            examples.append(item)
            stats["records"] += 1
    return examples


def _render(examples, template, tokenizer, cfg: RunConfig, stats: dict, shortest: list[int]) -> list[Sample]:
    from tunesmith.text.render import TooLong, render

    if cfg.train.objective != "sft":
        return _render_pairs(examples, template, tokenizer, cfg, stats, shortest)
    pairs = sum(ex.is_pair for ex in examples)
    if pairs:  # a pair file is fine for SFT, but its rejected answers are not learned from: say so
        log.warning("%d records are preference pairs: train.objective=sft trains on their chosen answers only "
                    "(dpo, ipo, simpo and orpo learn from both)", pairs)
    samples = []
    for ex in examples:
        try:
            r = render(ex, template, tokenizer, max_seq_len=cfg.template.max_seq_len, train_on=cfg.template.train_on,
                       truncation=cfg.template.truncation)
        except TooLong as e:
            stats["too_long"] += 1
            length = getattr(e, "length", None)
            if isinstance(length, int):
                shortest.append(length)
            continue
        sample = Sample(list(r.input_ids), list(r.labels))
        if sample.trained_tokens == 0:
            stats["no_trained_tokens"] += 1
            continue
        stats["truncated"] += int(bool(r.truncated))
        samples.append(sample)
    return samples


def _render_pairs(examples, template, tokenizer, cfg: RunConfig, stats: dict, shortest: list[int]) -> list:
    """Preference objectives: every record must be a pair (chosen + rejected); PairSamples share their prompt."""
    from tunesmith.text.render import TooLong
    from tunesmith.text.render_pair import render_pair

    samples = []
    for ex in examples:
        if not ex.is_pair:
            meta = ex.meta or {}
            where = f"{meta['source']}:{meta['line']}" if meta.get("source") and meta.get("line") else "a record"
            raise DataError(f"{where} has no rejected answer, and train.objective={cfg.train.objective} trains on "
                            "preference pairs", "give every record a chosen and a rejected answer "
                            "(LLaMA-Factory or TRL preference format), or set train.objective=sft")
        try:
            pair = render_pair(ex, template, tokenizer, max_seq_len=cfg.template.max_seq_len,
                               truncation=cfg.template.truncation)
        except TooLong as e:
            stats["too_long"] += 1
            shortest.append(e.length)
            continue
        stats["truncated"] += int(pair.truncated)
        samples.append(pair)
    return samples
