"""What a JSON grammar costs per generated token: the same greedy answers with and without xgrammar.

    python benchmarks/constrained_decoding.py                 # SmolLM2-135M-Instruct (embedded)
    python benchmarks/constrained_decoding.py --model PATH    # any model folder

Each case generates up to `--tokens` greedy tokens (a JSON answer ends where its document ends) for
`--runs` runs and prints the median milliseconds per generated token, plus the one-off grammar compile
time. CPU time is printed too: this machine's wall clock is noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"},
                                           "famous_for": {"type": "array", "items": {"type": "string"}}},
          "required": ["city", "population", "famous_for"], "additionalProperties": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from tunesmith.records.example import Example
    from tunesmith.infer.constrain import JsonConstraint
    from tunesmith.infer.generate import Generation, Sampling
    from tunesmith.infer.target import open_target

    torch.set_num_threads(max(1, torch.get_num_threads()))
    target = open_target(args.model)
    prompt = target.prompt_ids(Example.single("Describe Paris as JSON: city, population, famous_for.", ""))
    vocab = target.model.config.get_text_config().vocab_size
    started = time.perf_counter()
    schema = JsonConstraint(target.tokenizer, vocab, target.stop_ids, SCHEMA)
    compile_ms = (time.perf_counter() - started) * 1000
    any_object = JsonConstraint(target.tokenizer, vocab, target.stop_ids, None)

    def one(constraint, logprobs=None) -> tuple[float, float, int, str]:
        gen = Generation(target.model, target.tokenizer, prompt, Sampling(max_new_tokens=args.tokens),
                         target.stop_ids, constraint=constraint, logprobs=logprobs)
        wall, cpu = time.perf_counter(), time.process_time()
        text = "".join(gen)
        n = len(gen.completion.token_ids)
        return (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n, n, text

    cases = {"plain text": (None, None), "json_object": (any_object, None), "json_schema": (schema, None),
             "plain + logprobs (top 5)": (None, 5)}
    one(None)  # warm up
    results = {}
    for name, (constraint, logprobs) in cases.items():
        runs = [one(constraint, logprobs) for _ in range(args.runs)]
        results[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[0])
    base_wall = results["plain text"][0]
    print(f"model {args.model}; schema grammar compiled in {compile_ms:.1f} ms (once per schema)")
    print(f"{'case':<26}{'ms/token':>10}{'cpu ms/tok':>12}{'vs plain':>10}  tokens  answer")
    for name, (wall, cpu, (_, _, n, text)) in results.items():
        print(f"{name:<26}{wall:>10.2f}{cpu:>12.2f}{wall / base_wall:>9.2f}x  {n:>6}  {text[:50]!r}")


if __name__ == "__main__":
    main()
