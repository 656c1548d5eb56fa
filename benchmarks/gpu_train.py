"""GPU training speed, side by side in one run: HF+PEFT, HF+PEFT+Liger, and tunesmith.

Builds random-init models of real shapes from configs (no weights needed), trains each variant for a
few steps on the same synthetic data, and prints one table: tokens/s (real, non-pad tokens), MFU
against a matmul ceiling measured in the same run, peak memory, and the loss after the last step.

    python benchmarks/gpu_train.py                      # every scenario (needs one big GPU, ~10 min)
    python benchmarks/gpu_train.py --scenario 7b-lora   # one scenario
    python benchmarks/gpu_train.py --smoke              # tiny shapes on CPU: checks the script itself

Scenarios (PEERS.md numbers, H200, seq 2048, bf16, SDPA):
    7b-lora       Llama-2-7B shape, LoRA r16 all-linear, micro-batch 4     HF+PEFT 9,525 tok/s, 87 GiB
    7b-lora-ckpt  same with gradient checkpointing                         6,752 tok/s (Liger 8,034), 25 GiB
    1b-full       TinyLlama-1.1B shape, full fine-tuning, micro-batch 8    48,227 tok/s (Liger 62,896)
    7b-varlen     7B LoRA on variable-length SFT batches (mean ~500 tokens): padded HF vs packed tunesmith
Each variant runs in its own process so that peak memory and kernel patches do not leak between them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

SHAPES = {
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=32, vocab_size=32000),
    "1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
               num_key_value_heads=4, vocab_size=32000),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=600),
}

SCENARIOS = {
    "7b-lora": dict(shape="7b", method="lora", micro_batch=4, ckpt=False, varlen=False),
    "7b-lora-ckpt": dict(shape="7b", method="lora", micro_batch=4, ckpt=True, varlen=False),
    "1b-full": dict(shape="1b", method="full", micro_batch=8, ckpt=False, varlen=False),
    "7b-varlen": dict(shape="7b", method="lora", micro_batch=4, ckpt=True, varlen=True),
}
VARIANTS = ("hf_peft", "hf_peft_liger", "tunesmith")


# ---------------------------------------------------------------------------------------------
# Data: fixed-length rows, or variable-length SFT samples (log-normal lengths, mean ~500 tokens)
# ---------------------------------------------------------------------------------------------

def make_samples(n: int, seq: int, vocab: int, varlen: bool, seed: int = 0) -> list[list[int]]:
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = seq if not varlen else max(16, min(seq, int(rng.lognormvariate(math.log(400), 0.7))))
        out.append([rng.randrange(3, vocab) for _ in range(length)])
    return out


# ---------------------------------------------------------------------------------------------
# One variant in one process
# ---------------------------------------------------------------------------------------------

def build_model(shape: str, variant: str, method: str, dtype, device, seq: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if variant == "hf_peft_liger":
        from liger_kernel.transformers import apply_liger_kernel_to_llama

        apply_liger_kernel_to_llama()
    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=max(seq, 4096), attn_implementation="sdpa")
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0))
    return model


def run_variant(args) -> dict:
    import torch

    sc = SCENARIOS[args.scenario]
    shape = "tiny" if args.smoke else sc["shape"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    seq = args.seq
    samples = make_samples(args.steps * sc["micro_batch"] + 8, seq, SHAPES[shape]["vocab_size"], sc["varlen"])

    if args.variant == "tunesmith":
        from tunesmith.benchmarking import tunesmith_train_steps

        result = tunesmith_train_steps(shape_config=SHAPES[shape], method=sc["method"], samples=samples,
                                       micro_batch=sc["micro_batch"], seq=seq, steps=args.steps, warmup=args.warmup,
                                       gradient_checkpointing=sc["ckpt"], device=device, dtype=dtype)
    else:
        result = hf_train_steps(args, sc, shape, samples, device, dtype, seq)
    result.update(variant=args.variant, scenario=args.scenario, shape=shape, method=sc["method"])
    return result


def hf_train_steps(args, sc, shape, samples, device, dtype, seq) -> dict:
    """The peer: HF model (+PEFT, +Liger), padded batches as HF's default collator makes them."""
    import torch

    model = build_model(shape, args.variant, sc["method"], dtype, device, seq)
    if sc["ckpt"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if sc["method"] == "lora":
            model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=device == "cuda")
    model.train()
    times, real_tokens, losses = [], [], []
    mb = sc["micro_batch"]
    for step in range(args.warmup + args.steps):
        batch = samples[(step * mb) % (len(samples) - mb):][:mb]
        width = max(len(s) for s in batch)
        ids = torch.zeros(mb, width, dtype=torch.long)
        mask = torch.zeros(mb, width, dtype=torch.long)
        for i, s in enumerate(batch):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast(device, dtype=dtype, enabled=device == "cuda"):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - t)
            real_tokens.append(int(mask.sum()))
            losses.append(loss.item())
    return summarise(times, real_tokens, losses, model, device)


def summarise(times, real_tokens, losses, model, device) -> dict:
    import torch

    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    per_step = statistics.median(t / n for t, n in zip(times, real_tokens))
    return {"tok_s": 1.0 / per_step, "losses": losses, "params": n_params, "trainable": n_train,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")}


def matmul_ceiling() -> float:
    """bf16 TFLOP/s of a large square matmul on this GPU (the ceiling MFU is measured against)."""
    import torch

    if not torch.cuda.is_available():
        return float("nan")
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()
    return 20 * 2 * 8192**3 / (time.perf_counter() - t) / 1e12


def flops_per_token(row: dict, seq: int) -> float:
    shape = SHAPES[row["shape"]]
    layers, hidden = shape["num_hidden_layers"], shape["hidden_size"]
    # full: forward 2N + backward 4N; LoRA: the frozen weights need no weight gradients, so 2N + 2N.
    dense = (6 if row["method"] == "full" else 4) * row["params"]
    attention = 12 * layers * hidden * seq  # QK^T and AV, forward + backward
    return dense + attention


# ---------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    ap.add_argument("--variant", choices=VARIANTS, action="append")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on CPU, to check the script")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.seq, args.steps, args.warmup = min(args.seq, 128), min(args.steps, 3), 1
    if args.worker:
        args.scenario, args.variant = args.scenario[0], args.variant[0]
        print("RESULT " + json.dumps(run_variant(args)))
        return

    ceiling = matmul_ceiling()
    rows = []
    for scenario in args.scenario or list(SCENARIOS):
        for variant in args.variant or VARIANTS:
            cmd = [sys.executable, __file__, "--worker", "--scenario", scenario, "--variant", variant,
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--seq", str(args.seq)]
            if args.smoke:
                cmd.append("--smoke")
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                rows.append({"scenario": scenario, "variant": variant, "error": err})
                continue
            row = json.loads(line[7:])
            row["mfu"] = row["tok_s"] * flops_per_token(row, args.seq) / 1e12 / ceiling if ceiling == ceiling else None
            rows.append(row)
    print(f"matmul ceiling: {ceiling:.0f} TFLOP/s" if ceiling == ceiling else "no GPU: MFU not measured")
    print(f"{'scenario':<14}{'variant':<16}{'tok/s':>10}{'vs HF':>8}{'MFU':>7}{'peak GiB':>10}{'last loss':>11}")
    for row in rows:
        if "error" in row:
            print(f"{row['scenario']:<14}{row['variant']:<16}  failed: {row['error'][:80]}")
            continue
        hf = next((r for r in rows if r["scenario"] == row["scenario"] and r["variant"] == "hf_peft" and "tok_s" in r),
                  None)
        ratio = row["tok_s"] / hf["tok_s"] if hf else float("nan")
        mfu = f"{row['mfu']:.0%}" if row.get("mfu") else "-"
        print(f"{row['scenario']:<14}{row['variant']:<16}{row['tok_s']:>10.0f}{ratio:>8.2f}{mfu:>7}"
              f"{row['peak_gib']:>10.1f}{row['losses'][-1]:>11.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ceiling_tflops": ceiling, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
