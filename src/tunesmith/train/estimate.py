"""Peak memory of a training run, predicted from the config alone (no weights loaded, no data read).

    peak = weights + gradients + optimizer states + activations + logits/loss (+ runtime on CUDA)

Parameter counts are exact: the model is built on the `meta` device (shapes, no memory) and the
run's method is applied to it, so LoRA targets, ranks and tied embeddings count as in training.
Activations follow what autograd keeps for a Llama decoder layer with fused attention (SDPA /
flash: no T x T score matrix is stored), per token, in the autocast dtype:

    2 RMSNorms (input and normed output kept in fp32, the cast result)   10 h
    q, k, v before and after RoPE, attention output, o_proj input        4 h + 3 kv
    SwiGLU: gate, up, silu(gate), the down_proj input                     4 i
    LoRA with dropout: each adapted module's dropped-out input            + 6 h + i

Gradient checkpointing keeps one h-vector per layer; during backward one layer is recomputed while
the gradients of the next are alive (2 layers' worth). The logits cost B x T x V in the model dtype
plus three fp32 tensors (the upcast for the loss, its log-softmax, its gradient).

Checked against measurements on an H200 (benchmarks in docs: Llama-2-7B shape, LoRA r16 all-linear,
micro-batch 4 x 2048, bf16): 87 GiB measured vs 93 GiB estimated; with gradient checkpointing 25 GiB
vs 24 GiB (tests/test_estimate.py keeps it within 15%).
Tokens per micro-batch are micro_batch_size x max_seq_len: dynamic padding pads to the batch's
longest sample, so max_seq_len is the peak. Weights in 4-bit NF4 cost 0.5 byte + quantization
constants; 8-bit, 1 byte + constants.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import torch

from tunesmith import methods
from tunesmith.errors import ConfigError
from tunesmith.runs.config import RunConfig

GiB = 1024 ** 3
MiB = 1024 ** 2
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}

# The chapter's models by hub id, so that `estimate` works offline for them (no config.json needed).
KNOWN_SHAPES = {
    "meta-llama/Llama-2-7b-hf": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                     num_attention_heads=32, num_key_value_heads=32, vocab_size=32000),
    "meta-llama/Llama-2-13b-hf": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40,
                                      num_attention_heads=40, num_key_value_heads=40, vocab_size=32000),
    "meta-llama/Llama-2-70b-hf": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                      num_attention_heads=64, num_key_value_heads=8, vocab_size=32000),
}
for _size in ("7b", "13b", "70b"):
    KNOWN_SHAPES[f"meta-llama/Llama-2-{_size}-chat-hf"] = KNOWN_SHAPES[f"meta-llama/Llama-2-{_size}-hf"]


@dataclass
class Estimate:
    parts: dict[str, float]                  # name -> bytes
    total_params: int
    trainable_params: int
    tokens: int                              # per micro-batch
    notes: list[str] = field(default_factory=list)

    @property
    def peak(self) -> float:
        return sum(self.parts.values())


def parse_memory(text: str) -> float:
    """'24GiB', '24GB', '24G', '512MiB', '80' (GiB) -> bytes. GB is read as GiB, as GPU specs mean it."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?B?)\s*", text, re.IGNORECASE)
    if not m:
        raise ConfigError(f"--memory '{text}' is not a size", "write it like 24GiB, 80G or 512MiB")
    unit = (m.group(2) or "G").upper()
    return float(m.group(1)) * 1024 ** "KMGT".index(unit) * 1024


def model_config(cfg: RunConfig):
    """The transformers config of `model.path` (a local folder, an embedded model, or a known hub id)."""
    from transformers import AutoConfig, LlamaConfig

    if cfg.model.path in KNOWN_SHAPES:
        return LlamaConfig(**KNOWN_SHAPES[cfg.model.path])
    from tunesmith.model.load import resolve

    source = resolve(cfg.model)
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    try:
        return AutoConfig.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the model config of '{cfg.model.path}': {str(e).splitlines()[0]}",
                          f"give a local folder, or one of: {', '.join(KNOWN_SHAPES)}") from None


def count_parameters(cfg: RunConfig, hf_config) -> tuple[int, int, int]:
    """(total, trainable, quantizable linear) parameters, by building the model on the meta device."""
    from transformers import AutoModelForCausalLM


    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    base_total = sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for name, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and not name.endswith("lm_head"))
    # shapes_only: prompt tuning's init text is not tokenized (it does not change the count)
    model = methods.apply(model, cfg.method, methods.MethodContext(total_steps=100, shapes_only=True))
    # AdaLoRA's rank counters come back requires_grad=True when PEFT moves them to the meta device.
    trainable = sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and "ranknum" not in name)
    return base_total, trainable, linear


def estimate(cfg: RunConfig, device: str = "cuda", hf_config=None, counts: tuple[int, int, int] | None = None
             ) -> Estimate:
    hf = hf_config or model_config(cfg)
    total, trainable, linear = counts or count_parameters(cfg, hf)
    dtype = cfg.model.dtype if cfg.model.dtype != "auto" else ("bf16" if device == "cuda" else "fp32")
    w_bytes = BYTES[dtype]
    method = methods.get(cfg.method.name)
    quant_4 = cfg.model.load_in_4bit or method.quantized_base
    quant_8 = cfg.model.load_in_8bit
    notes = []
    if quant_4:
        weights = (total - linear) * w_bytes + linear * (0.5 + 4 / 64 / 4)  # NF4 + double-quantized absmax
    elif quant_8:
        weights = (total - linear) * w_bytes + linear * (1 + 4 / 4096)
    else:
        weights = total * w_bytes
    adapter = method.saves == "adapter"
    # PEFT keeps adapter weights in fp32 when the base is 16-bit; trained base weights keep the base dtype.
    t_bytes = 4 if adapter else w_bytes
    weights += trainable * t_bytes if adapter else 0
    grads = trainable * t_bytes
    optimizer = 2 * trainable * t_bytes  # AdamW: first and second moments, in the parameter dtype

    precision = cfg.train.precision
    act_bytes = 2 if precision in ("bf16", "fp16") or (precision == "auto" and device == "cuda") else w_bytes
    h, i, layers = hf.hidden_size, hf.intermediate_size, hf.num_hidden_layers
    kv = h * hf.num_key_value_heads // hf.num_attention_heads
    per_layer = 14 * h + 3 * kv + 4 * i
    per_layer += method.activation_overhead(cfg.method, h, i)  # LoRA's dropout copies, DoRA's base output
    tokens = cfg.train.micro_batch_size * cfg.template.max_seq_len
    tokens += cfg.train.micro_batch_size * method.virtual_tokens(cfg.method)  # prompt learning's virtual tokens
    if cfg.train.gradient_checkpointing:
        activations = tokens * act_bytes * (layers * h + 2 * per_layer)
        notes.append("gradient checkpointing: one layer's activations live at a time (~30% slower)")
    else:
        activations = tokens * act_bytes * layers * per_layer
    logits = tokens * hf.vocab_size * (act_bytes + 4 + 4 + 4)
    parts = {"weights": weights, "gradients": grads, "optimizer states": optimizer,
             "activations": activations, "logits + loss": logits}
    if device == "cuda":
        parts["CUDA context + allocator slack"] = 0.6 * GiB + 0.05 * (activations + logits)
    return Estimate(parts, total + (trainable if adapter else 0), trainable, tokens, notes)


def suggestions(cfg: RunConfig, budget: float, device: str = "cuda", limit: int = 3, hf_config=None) -> list[tuple[
        list[str], Estimate]]:
    """Setting changes (as dotted overrides) that bring the peak under `budget`, fewest and cheapest first."""
    hf = hf_config or model_config(cfg)
    sizes = [cfg.train.micro_batch_size]
    while sizes[-1] > 1:
        sizes.append(max(1, sizes[-1] // 2))
    methods_to_try = [cfg.method.name] + [m for m in methods.LIGHTER if m != cfg.method.name and
                                          (not methods.get(m).needs_cuda or device == "cuda")]
    dtypes = [cfg.model.dtype] + (["bf16"] if cfg.model.dtype in ("fp32", "auto") and device == "cuda" else [])
    found, counts = [], {}
    for method, dtype, gc, mb in itertools.product(methods_to_try, dtypes, (False, True), sizes):
        c = cfg.model_copy(deep=True)
        changes = []
        if method != cfg.method.name:
            c.method = methods.switch(c.method, method)
            changes.append(f"method.name={method}")
        if dtype != cfg.model.dtype:
            c.model.dtype = dtype
            changes.append(f"model.dtype={dtype}")
        if gc and not cfg.train.gradient_checkpointing:
            c.train.gradient_checkpointing = True
            changes.append("train.gradient_checkpointing=true")
        if mb != cfg.train.micro_batch_size:
            accum = cfg.train.grad_accum * cfg.train.micro_batch_size // mb  # keep the global batch
            c.train.micro_batch_size, c.train.grad_accum = mb, accum
            changes += [f"train.micro_batch_size={mb}", f"train.grad_accum={accum}"]
        if not changes:
            continue
        if method not in counts:  # building the meta model is the slow part: once per method
            counts[method] = count_parameters(c, hf)
        est = estimate(c, device, hf, counts[method])
        if est.peak <= budget:
            cost = (5 if method != cfg.method.name else 0) + (1 if dtype != cfg.model.dtype else 0) \
                + (2 if gc else 0) + sizes.index(mb)
            found.append((cost, changes, est))
    found.sort(key=lambda x: (x[0], x[2].peak))
    return [(changes, est) for _, changes, est in found[:limit]]


def human(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB else f"{n / MiB:.1f} MiB"
