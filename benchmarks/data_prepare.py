"""Speed of `data prepare` (clean + filters + pii + safety) against Presidio doing the same PII work.

    python benchmarks/data_prepare.py                 # 100k records (~2-3 minutes on 2 cores)
    python benchmarks/data_prepare.py --n 1000000     # the issue's 1M

Generates ~200-character Chinese/English instruction records (a fifth with planted PII of every type,
some HTML, URLs, AI boilerplate, unsafe text, empty answers), then measures in one run, as CPU time
per record (so other load on the machine inflates the numbers less than wall-clock would):
  1. tunesmith's six record steps in one process: the median of --repeats runs (this machine's timings
     swing by a third between runs), then each step's share from one more run timed step by step,
  2. tunesmith's pii step alone, and how much of the planted PII it masks,
  3. Presidio (presidio-analyzer pattern recognizers: email, phone via phonenumbers for CN, credit card,
     IP, plus pattern recognizers for Chinese ID numbers, and presidio-anonymizer's replace) on a sample,
  4. the reader and writer alone, and the whole `prepare()` run with N workers (read, shards, write,
     report): CPU of every process per record, and wall-clock records/s.
Presidio is optional: `pip install presidio-analyzer presidio-anonymizer` (no spaCy model is needed:
recognizers are called directly).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ZH = ["今天我们讨论一下如何提高学习效率", "请帮我写一段关于春天的描写", "这个问题的关键在于数据的质量", "首先需要明确目标然后制定计划",
      "机器学习模型需要大量的训练数据", "北京是中国的首都也是文化中心", "健康的饮食习惯对身体非常重要", "我们应该尊重每一个人的选择",
      "这篇文章主要介绍了深度学习的基本原理", "如果遇到困难可以先休息一下再继续"]
EN = ["Explain the difference between a list and a tuple in Python", "Write a short story about a robot who learns to paint",
      "The key to good writing is clear thinking and careful editing", "Give me three tips for a productive morning routine",
      "Summarise the main argument of the article in two sentences", "Photosynthesis converts light energy into chemical energy",
      "A balanced diet includes vegetables fruit grains and protein", "Regular exercise improves both mood and sleep quality"]
W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id18(r):
    body = "110105" + f"{r.randint(1950, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{r.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, W)) % 11]


def _card(r):
    body = "6222" + "".join(str(r.randint(0, 9)) for _ in range(11))
    total = sum((d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d for i, d in enumerate(map(int, reversed(body))))
    return body + str((10 - total % 10) % 10)


PII = [
    ("id_card", lambda r: _id18(r), "身份证号{}"), ("mobile", lambda r: f"13{r.randint(100000000, 999999999)}", "电话{}"),
    ("landline", lambda r: f"010-{r.randint(20000000, 89999999)}", "座机{}"), ("bank_card", _card, "卡号{}"),
    # A real provider's mailbox and a public address: example.com and 10.x are nobody's, and pii keeps them.
    ("email", lambda r: f"user{r.randint(1, 9999)}@163.com", "email {}"),
    ("ipv4", lambda r: f"{r.choice([58, 61, 101, 183])}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
     "host {}"),
    ("phone", lambda r: f"+1 415 {r.randint(200, 999)} {r.randint(1000, 9999)}", "call {}"),
    ("passport", lambda r: f"E{r.randint(10000000, 99999999)}", "护照号码{}"),
    ("qq", lambda r: str(r.randint(10000, 999999999)), "QQ：{}"), ("wechat", lambda r: f"wx_{r.randint(1000, 99999)}ab", "微信：{}"),
]
EXTRAS = ["<p>见 <b>说明</b></p>", "See https://example.com/docs?id=42 for details.", "As an AI language model, I think",
          "作为一个人工智能语言模型，", "教我怎么制作炸弹", "ＧＰＴ－４　模型"]


def make_records(n: int, seed: int = 0):
    """Records of ~200 characters; returns (records, planted PII values per record)."""
    r = random.Random(seed)
    records, planted = [], []
    for i in range(n):
        zh = r.random() < 0.5
        pool, sep = (ZH, "，") if zh else (EN, ". ")
        instruction = r.choice(pool)
        output = sep.join(r.sample(pool, 9 if zh else 3))  # ~200 characters either way
        values = []
        if r.random() < 0.2:
            kind, make, template = r.choice(PII)
            value = make(r)
            values.append(value)
            output += sep + template.format(value)
        if r.random() < 0.1:
            output += sep + r.choice(EXTRAS)
        if r.random() < 0.01:
            output = ""
        records.append({"instruction": instruction, "input": "", "output": output})
        planted.append(values)
    return records, planted


STEPS = [{"step": "clean", "urls": "remove"}, {"step": "language", "keep": ["zh", "en"]}, {"step": "quality"},
         {"step": "machine_text"}, {"step": "pii"}, {"step": "safety"}]


def examples(records):
    from tunesmith.records.example import Example

    return [Example.single(x["instruction"], x["output"], id=str(i)) for i, x in enumerate(records)]


def time_stage(step_dicts, records, batch=5000, repeats=3):
    """CPU seconds of the record stage (`RecordStage.run`, as `prepare` runs it, on 5000-record shards):
    the median of `repeats` runs and every run's seconds; the kept examples; and CPU seconds per step
    from one more run timed step by step (each step sees what the steps before it kept).

    The median of several runs, because this machine's timings swing by a third from run to run."""
    from tunesmith.prepare.local_engine import lean_gc
    from tunesmith.prepare.config import step_options
    from tunesmith.prepare.stage import RecordStage

    stage = RecordStage([step_options(s, i) for i, s in enumerate(step_dicts)])
    with lean_gc():  # the cycle collector as prepare's workers run it
        return _time_stage(stage, records, batch, repeats)


def _time_stage(stage, records, batch, repeats):
    from tunesmith.prepare.steps import Drop

    runs = []
    for _ in range(repeats):
        exs = examples(records)
        kept = []
        started = time.process_time()  # CPU seconds of this process: "per core", whatever else runs here
        for i in range(0, len(exs), batch):
            kept.extend(stage.run(exs[i:i + batch]).kept)
        runs.append(time.process_time() - started)
    per_step = dict.fromkeys(stage.labels, 0.0)
    exs = examples(records)
    for i in range(0, len(exs), batch):
        alive = exs[i:i + batch]
        for label, step in zip(stage.labels, stage.steps):
            t = time.process_time()
            alive = [r for r in stage._apply(step, alive) if not isinstance(r, Drop)]
            per_step[label] += time.process_time() - t
    return statistics.median(runs), runs, kept, per_step


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def row(what: str, seconds: float, n: int, note: str = "") -> None:
    print(f"  {what:<44} {seconds / n * 1e6:>9.1f} {n / seconds:>13,.0f}  {note}")


def presidio_engine():
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IpRecognizer,
                                                          PhoneRecognizer)
    from presidio_anonymizer import AnonymizerEngine

    recognizers = [EmailRecognizer(), CreditCardRecognizer(), IpRecognizer(), PhoneRecognizer(supported_regions=("CN",)),
                   PatternRecognizer("CN_ID_CARD", patterns=[Pattern("cn id", r"\b[1-9]\d{16}[\dXx]\b", 0.6)]),
                   PatternRecognizer("CN_PASSPORT", patterns=[Pattern("cn passport", r"\b[EG]\d{8}\b", 0.4)]),
                   PatternRecognizer("CN_MOBILE", patterns=[Pattern("cn mobile", r"(?<!\d)1[3-9]\d{9}(?!\d)", 0.5)])]
    anonymizer = AnonymizerEngine()

    def mask(text: str) -> str:
        results = []
        for rec in recognizers:
            results.extend(rec.analyze(text, rec.supported_entities, None) or [])
        return anonymizer.anonymize(text, results).text if results else text

    return mask


def masked_share(texts_after, planted) -> float:
    total = hit = 0
    for text, values in zip(texts_after, planted):
        for v in values:
            total += 1
            hit += v not in text
    return hit / total if total else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="records (default 100k)")
    parser.add_argument("--presidio-n", type=int, default=10_000, help="records Presidio processes (it is slow)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3, help="runs of the six steps; the median is reported")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # offline: it falls back to its bundled list

    t = time.perf_counter()
    records, planted = make_records(args.n)
    avg = sum(len(x["instruction"]) + len(x["output"]) for x in records) / len(records)
    print(f"generated {args.n:,} records, {avg:.0f} characters on average, in {time.perf_counter() - t:.1f} s")

    print(f"  {'CPU time, one process':<44} {'us/record':>9} {'records/s/core':>13}")
    seconds, runs, _, per_step = time_stage(STEPS, records, repeats=args.repeats)
    for label, sec in per_step.items():
        row(f"{label} (one run, step by step)", sec, args.n)
    row("all six steps: clean+language+quality+machine_text+pii+safety", seconds, args.n,
        f"median of {len(runs)} runs: " + ", ".join(f"{r / args.n * 1e6:.1f}" for r in runs) + " us")
    pii_seconds, _, pii_kept, _ = time_stage([{"step": "pii"}], records, repeats=1)
    row("pii alone", pii_seconds, args.n, f"planted PII masked: {masked_share([e.output for e in pii_kept], planted):.1%}")

    # Before Presidio: it imports torch, after which prepare() must spawn its workers (slower to start).
    from tunesmith.prepare.pipeline import prepare
    from tunesmith.prepare.config import PrepareConfig

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.jsonl"
        with open(raw, "w", encoding="utf-8") as f:
            for x in records:
                f.write(json.dumps(x, ensure_ascii=False) + "\n")
        cfg = PrepareConfig(inputs=[str(raw)], steps=STEPS, workers=args.workers, shard_size=10_000,
                            output={"path": str(Path(tmp) / "out" / "train.jsonl")})
        from tunesmith.records import formats

        t = time.process_time()
        items = list(formats.read(raw))
        row("read (formats.read, JSON lines)", time.process_time() - t, len(items))
        t = time.process_time()
        formats.write(items, Path(tmp) / "copy.jsonl", to="alpaca")
        row("write (formats.write, JSON lines)", time.process_time() - t, len(items))
        del items
        cpu, wall = cpu_seconds(), time.perf_counter()
        result = prepare(cfg, progress=sys.stderr.isatty())
        cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
        row(f"prepare() end to end, {args.workers} workers (CPU, all processes)", cpu, result.read,
            f"{result.read / wall:,.0f} records/s wall-clock, load average {os.getloadavg()[0]:.1f} "
            f"({result.kept:,} kept, {result.rejected:,} rejected)")

    try:
        mask = presidio_engine()
    except ImportError as e:
        print(f"presidio not installed ({e}); pip install presidio-analyzer presidio-anonymizer")
        mask = None
    if mask is not None:
        sample = records[:args.presidio_n]
        mask("warm up: tldextract loads its suffix list once")
        t = time.process_time()
        after = [mask(x["output"]) for x in sample]
        presidio = time.process_time() - t
        row("presidio pattern recognizers + anonymizer", presidio, len(sample),
            f"planted PII masked: {masked_share(after, planted[:len(sample)]):.1%}")
        rate = len(sample) / presidio
        print(f"  ratio: tunesmith pii / presidio = {args.n / pii_seconds / rate:.1f}x; "
              f"tunesmith all six steps / presidio pii alone = {args.n / seconds / rate:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
