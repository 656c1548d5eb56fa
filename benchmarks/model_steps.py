"""Speed of the two model steps, `token_length` and `perplexity`, before and after batching, on real records.

    python benchmarks/model_steps.py                               # both steps, SmolLM2, both demo sets
    python benchmarks/model_steps.py --steps token_length --n 0    # every record of every set
    python benchmarks/model_steps.py --data ../shared/realdata --ppl-n 48 --ppl-dtype bf16

token_length, on --n records of each set (the SmolLM2 tokenizer and its own chat template, `auto`):
  before  the per-record path: `len(render(record).input_ids)` for each record, as training renders it
          (two Jinja renders and a few tokenizer calls per turn)
  batched the shard-at-a-time tokenizer call alone (every run's texts in one call, Jinja per record)
  after   the step's apply_batch as it runs now (chat-template skeletons + the byte-level word cache, the
          truncation check and the report's tally), cold: a fresh counter whose caches start empty, as
          in a worker's first shard (its one-time costs, checking each new character and encoding each
          new word once, fall on these records alone)
  warm    the same counter on the same records again: the steady state of a long run, where most words
          and characters were seen in earlier shards (an upper bound: here every word was seen)
The counts of every path are checked to be equal before anything is timed.

perplexity, on --ppl-n records of each set (SmolLM2-135M-Instruct, at most 256 tokens of the answer):
  before  the old loop: batches of 8 in record order, padded to the longest, full fp32 logits
  after   the step: one tokenizer call, texts sorted by length into batches of --ppl-batch, the loss
          from the hidden states of real tokens only, a chunk of logits at a time

Timings are the median of --repeats runs, as CPU seconds of this process (time.process_time, which
counts all of torch's threads) and as wall-clock seconds. records/s/core is records per CPU second:
on a machine that other jobs share, wall-clock swings with their load and CPU time much less (it still
grows somewhat under contention, through caches and memory bandwidth). Say which you quote.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
SETS = ("alpaca_zh_demo.json", "alpaca_en_demo.json")


def records(folder: Path, name: str, n: int):
    from tunesmith.records.formats import BadRecord, read

    out = [e for e in read(folder / name) if not isinstance(e, BadRecord)]
    return out[:n] if n else out


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """(median CPU seconds, median wall seconds, last result) of `fn()` over `repeats` runs."""
    cpu, wall, result = [], [], None
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), result


def row(label: str, n: int, cpu: float, wall: float, base: tuple[float, float] | None) -> str:
    speed = f"{n / cpu:9,.1f} rec/s/core ({cpu / n * 1e6:9,.0f} us CPU/rec)  {n / wall:9,.1f} rec/s wall"
    ratio = f"   x{base[0] / cpu:6.1f} CPU  x{base[1] / wall:6.1f} wall" if base else ""
    return f"  {label:8s} {speed}{ratio}"


def token_length(folder: Path, model: str, n: int, repeats: int) -> None:
    from tunesmith.config import ModelConfig
    from tunesmith.prepare.steps.model_filters import TokenLengthStep
    from tunesmith.prepare.steps.token_count import RenderedLengths, TrainingLengths
    from tunesmith.model.load import load_tokenizer
    from tunesmith.text.render import render
    from tunesmith.text.templates import get_template

    tok = load_tokenizer(ModelConfig(path=model))
    template = get_template("auto", tok)
    print(f"token_length: tokenizer {model} ({len(tok):,} tokens), template auto, median of {repeats}")
    for name in SETS:
        recs = records(folder, name, n)

        def before():
            return [len(render(e, template, tok, max_seq_len=1 << 62, truncation="drop").input_ids) for e in recs]

        def batched():
            return RenderedLengths(template, tok, words=False, skeletons=False).lengths(recs)

        step = TokenLengthStep(TokenLengthStep.Options(step="token_length", model={"path": model}, max_seq_len=1 << 30))

        def after():  # the step itself, with empty caches
            step.lengths = RenderedLengths(step.template, step.tokenizer)
            step.fitting = TrainingLengths(step.lengths, step.max_seq_len, step.truncation)
            return step.apply_batch(recs)

        def warm():
            return step.apply_batch(recs)

        want = before()
        assert batched() == want and RenderedLengths(template, tok).lengths(recs) == want, f"{name}: counts differ"
        after()
        counts = step.stats.counts
        chars = counts["chinese_chars"]
        per_char = f"{counts['chinese_tokens'] / chars:.2f} tokens per Chinese character" if chars else "no Chinese"
        print(f" {name}: {len(recs)} records, {sum(want) / len(want):.0f} tokens/record on average, {per_char}")
        b = timed(before, repeats)
        print(row("before", len(recs), b[0], b[1], None))
        m = timed(batched, repeats)
        print(row("batched", len(recs), m[0], m[1], b[:2]))
        a = timed(after, repeats)
        print(row("after", len(recs), a[0], a[1], b[:2]))
        w = timed(warm, repeats)
        print(row("warm", len(recs), w[0], w[1], b[:2]))


def perplexity(folder: Path, model: str, n: int, batch: int, dtype: str, repeats: int) -> None:
    import torch

    from tunesmith.prepare.steps.base import read_texts
    from tunesmith.prepare.steps.model_filters import PerplexityStep

    step = PerplexityStep(PerplexityStep.Options(step="perplexity", model={"path": model, "dtype": dtype},
                                                 batch_size=batch))
    print(f"perplexity: {model} ({dtype}), {torch.get_num_threads()} torch threads, at most "
          f"{step.options.max_tokens} tokens of the answer, median of {repeats}")

    def old_scores(texts: list[str]) -> list[float]:
        out = []
        for start in range(0, len(texts), 8):
            enc = step.tokenizer(texts[start:start + 8], add_special_tokens=True, truncation=True,
                                 max_length=step.options.max_tokens, padding=True, return_tensors="pt")
            ids, mask = enc["input_ids"], enc["attention_mask"]
            with torch.no_grad():
                logits = step.model(input_ids=ids, attention_mask=mask).logits.float()
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            m = mask[:, 1:].float()
            out.extend(math.exp(min(v, 50.0)) for v in ((nll * m).sum(1) / m.sum(1).clamp(min=1)).tolist())
        return out

    for name in SETS:
        texts = ["\n".join(read_texts(e, ("output",))) for e in records(folder, name, n)]
        tokens = [min(len(ids), step.options.max_tokens) for ids in step.tokenizer(texts)["input_ids"]]
        b = timed(lambda: old_scores(texts), repeats)
        a = timed(lambda: step.scores(texts), repeats)
        worst = max(abs(x - y) / y for x, y in zip(a[2], b[2]) if x is not None)
        print(f" {name}: {len(texts)} answers, {sum(tokens) / len(tokens):.0f} tokens each on average; "
              f"largest relative difference of a score, after vs before: {worst:.1e}")
        print(row("before", len(texts), b[0], b[1], None))
        print(row("after", len(texts), a[0], a[1], b[:2]))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder with alpaca_zh_demo.json and alpaca_en_demo.json")
    p.add_argument("--model", default="smollm2", help="model for both steps (embedded name or folder)")
    p.add_argument("--steps", nargs="+", default=["token_length", "perplexity"], choices=["token_length", "perplexity"])
    p.add_argument("--n", type=int, default=0, help="records per set for token_length (0 = all)")
    p.add_argument("--ppl-n", type=int, default=32, help="records per set for perplexity")
    p.add_argument("--ppl-batch", type=int, default=16, help="perplexity batch size (after)")
    p.add_argument("--ppl-dtype", default="fp32", choices=["fp32", "bf16"], help="perplexity model dtype")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    if not all((args.data / name).is_file() for name in SETS):
        sys.exit(f"{args.data} lacks {' or '.join(SETS)} (--data names the folder)")
    if "token_length" in args.steps:
        token_length(args.data, args.model, args.n, args.repeats)
    if "perplexity" in args.steps:
        perplexity(args.data, args.model, args.ppl_n, args.ppl_batch, args.ppl_dtype, args.repeats)


if __name__ == "__main__":
    main()
