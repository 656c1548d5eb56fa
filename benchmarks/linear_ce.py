"""Chunked linear + cross-entropy vs the full-logits path: time and peak memory, side by side.

Each variant runs in its own process (peak RSS is per process); shapes default to SmolLM2-135M's head
(hidden 576, vocab 49152) at micro-batch 4 x 512 tokens. On a GPU it also reports CUDA peak memory.
    python benchmarks/linear_ce.py [--tokens 2048] [--hidden 576] [--vocab 49152] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def worker(variant: str, tokens: int, hidden: int, vocab: int, repeats: int) -> dict:
    import resource

    import torch

    from tunesmith.kernels.linear_ce import linear_cross_entropy, reference_cross_entropy

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    torch.manual_seed(0)
    h = torch.randn(4, tokens // 4, hidden, device=dev, dtype=dtype, requires_grad=True)
    w = (torch.randn(vocab, hidden, device=dev) * 0.02).to(dtype).requires_grad_()
    y = torch.randint(0, vocab, (4, tokens // 4), device=dev)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        h.grad = w.grad = None
        if dev == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = linear_cross_entropy(h, w, y) if variant == "chunked" else reference_cross_entropy(h, w, y)
        loss.backward()
        if dev == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    out = {"variant": variant, "median_s": statistics.median(times), "loss": loss.item(),
           "peak_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024}
    if dev == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=576)
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.tokens, a.hidden, a.vocab, a.repeats)))
        return
    rows = {}
    for variant in ("full-logits", "chunked"):
        cmd = [sys.executable, __file__, "--worker", variant, "--tokens", str(a.tokens), "--hidden", str(a.hidden),
               "--vocab", str(a.vocab), "--repeats", str(a.repeats)]
        rows[variant] = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    print(f"{'variant':<12} {'median s':>9} {'extra peak RSS MB':>18} {'loss':>12}")
    for r in rows.values():
        print(f"{r['variant']:<12} {r['median_s']:>9.3f} {r['peak_rss_mb']:>18.0f} {r['loss']:>12.2f}")
    f, c = rows["full-logits"], rows["chunked"]
    print(f"chunked / full: time x{c['median_s'] / f['median_s']:.2f}, "
          f"peak memory x{c['peak_rss_mb'] / max(f['peak_rss_mb'], 1):.2f}")


if __name__ == "__main__":
    main()
