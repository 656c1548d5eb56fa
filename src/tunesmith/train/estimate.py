"""Peak memory of a training run, predicted from the config alone (no weights loaded, no data read).

    peak = weights + gradients + optimizer states + activations + loss (+ runtime on CUDA)

Parameter counts are exact: the model is built on the `meta` device (shapes, no memory) and the
run's method is applied to it, so LoRA targets, ranks and tied embeddings count as in training.
Activations follow what autograd keeps for a Llama decoder layer with fused attention (SDPA /
flash: no T x T score matrix is stored), per token, in the autocast dtype:

    2 RMSNorms (input and normed output kept in fp32, the cast result)   10 h
    q, k, v before and after RoPE, attention output, o_proj input        4 h + 3 kv
    SwiGLU: gate, up, silu(gate), the down_proj input                     4 i
    LoRA with dropout: each adapted module's dropped-out input            + 6 h + i

Gradient checkpointing keeps one h-vector per layer; during backward one layer is recomputed while
the gradients of the next are alive (2 layers' worth).

The loss is counted as the run computes it (`train/loss.py`):
- fused (`train.fused_loss`, the default): `kernels/linear_ce.py` takes logits at trained positions
  only, 1024 rows at a time: one chunk's worth of what the plain loss holds, plus the gradient of the
  final hidden states and, when lm_head trains, its fp32 gradient kept from forward to backward.
  Whether the fused path applies is asked of the meta model as the loop asks (`loss.split_head`):
  prompt learning and an adapter on lm_head fall back to the plain path, and so does torchrun.
- plain: the full B x T x V logits: three fp32 tensors of that shape (the logits or their upcast, the
  log-softmax, its gradient) plus, under 16-bit autocast, the logits in that dtype.

Checked against measurements on an H200 (Llama-2-7B shape, LoRA r16 all-linear, micro-batch 4 x
2048, bf16, HF + PEFT, i.e. the plain loss): 87 GiB measured vs 93 GiB estimated; with gradient
checkpointing 25 GiB vs 24 GiB (tests/test_estimate.py keeps it within 15%). On the CPU,
benchmarks/estimate_accuracy.py trains the tiny Llama and SmolLM2-135M with and without the fused
loss and prints estimate vs measured peak RSS; the loss constants and CPU dropout's cost come from
it. The fused loss's figures on CUDA are the CPU-measured ones (not yet measured on a GPU).
Tokens per micro-batch are micro_batch_size x max_seq_len: dynamic padding pads to the
batch's longest sample and packing fills rows, so max_seq_len is the peak. Weights in 4-bit NF4
cost 0.5 byte + quantization constants; 8-bit, 1 byte + constants.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from tunesmith import methods
from tunesmith.errors import ConfigError
from tunesmith.runs.config import RunConfig

GiB = 1024 ** 3
MiB = 1024 ** 2
BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
FUSED_CHUNK = 1024  # rows per chunk in kernels.linear_ce (its default, which the loop uses)

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
    fused_loss: bool = False                 # the loss is counted as the fused (chunked) path

    @property
    def peak(self) -> float:
        return sum(self.parts.values())


class Counts(NamedTuple):
    """What the meta model says about the run: parameter counts and the loss path it allows."""
    total: int
    trainable: int
    linear: int                  # quantizable linear weights (all but lm_head)
    fused_ok: bool               # loss.split_head finds a plain lm_head: the fused loss can run
    head_trained: bool           # lm_head's weight trains (tied embeddings in full fine-tuning, ...)


def parse_memory(text: str) -> float:
    """'24GiB', '24GB', '24G', '512MiB', '80' (GiB) -> bytes. GB is read as GiB, as GPU specs mean it."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(i?B?)\s*", text, re.IGNORECASE)
    if not m:
        raise ConfigError(f"--memory '{text}' is not a size", "write it like 24GiB, 80G or 512MiB")
    unit = (m.group(2) or "G").upper()
    return float(m.group(1)) * 1024 ** "KMGT".index(unit) * 1024


def model_config(cfg: RunConfig, local_only: bool = False):
    """The transformers config of `model.path` (a local folder, an embedded model, or a known hub id).
    `local_only`: a hub id is read only from the local cache, never fetched."""
    from transformers import AutoConfig, LlamaConfig

    if cfg.model.path in KNOWN_SHAPES:
        return LlamaConfig(**KNOWN_SHAPES[cfg.model.path])
    from tunesmith.model.load import resolve

    source = resolve(cfg.model)
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    if local_only:
        kwargs["local_files_only"] = True
    try:
        return AutoConfig.from_pretrained(source.location, **kwargs)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the model config of '{cfg.model.path}': {str(e).splitlines()[0]}",
                          f"give a local folder, or one of: {', '.join(KNOWN_SHAPES)}") from None


def count_parameters(cfg: RunConfig, hf_config) -> Counts:
    """Parameter counts and loss path, by building the model on the meta device and applying the method."""
    from transformers import AutoModelForCausalLM

    from tunesmith.train.loss import split_head

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    base_total = sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for name, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and not name.endswith("lm_head"))
    # shapes_only: prompt tuning's init text is not tokenized (it does not change the count)
    model = methods.apply(model, cfg.method, methods.MethodContext(total_steps=100, shapes_only=True))
    # AdaLoRA's rank counters come back requires_grad=True when PEFT moves them to the meta device.
    trainable = sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and "ranknum" not in name)
    split = split_head(model)
    return Counts(base_total, trainable, linear, split is not None,
                  split is not None and split[1].weight.requires_grad)


def loss_memory(tokens: int, rows: int, hf, act_bytes: int, fused: bool, head_trained: bool) -> float:
    """Bytes the loss adds at the step's peak, as train/loss.py computes it.

    `tokens` is B x T, `rows` the positions that can be trained (B x (T - 1), all of them at worst).
    Per logit: three fp32 tensors (the logits or their upcast, the log-softmax or a logsumexp temporary,
    the gradient) and, under 16-bit autocast, the logits in that dtype. Measured on the CPU
    (benchmarks/estimate_accuracy.py): plain 12.0 bytes per logit in fp32; fused 3.0 fp32 chunks in
    fp32 and 3.5 with bf16 tensors, measured while the previous chunk's tensors lived until the next one
    was computed (kernels/linear_ce.py now frees them first: ~2 chunks, so this errs by ~1 on the safe side);
    the 16-bit plain figure is the H200 measurement's (tests/test_estimate.py)."""
    v, h = hf.vocab_size, hf.hidden_size
    per_logit = 12 + (act_bytes if act_bytes != 4 else 0)
    if not fused:
        return tokens * v * per_logit
    held = rows * h * act_bytes * 2  # the gradient w.r.t. the hidden states, and the shifted copy of them
    head = v * h * 4 if head_trained else 0  # the fp32 lm_head gradient, kept from forward to backward
    return min(FUSED_CHUNK, rows) * v * per_logit + held + head


def preference_loss_memory(cfg: RunConfig, method, tokens: int, rows: int, hf, act_bytes: int, fused: bool,
                           notes: list[str]) -> float:
    """A preference objective's loss (train/preference.py): log-probs at every answer token of the 2B rows,
    not chunked (logits, log-softmax and their gradient in fp32: `rows` of them at worst), after the full
    B x T x V logits where the fused path cannot apply. The reference costs no memory at the peak: adapter
    methods run it as a no-grad forward with the adapters off, full and freeze read log-probs cached by one
    pass before step 1; simpo and orpo have none."""
    from tunesmith.train.objectives import USES_REFERENCE

    per_logit = 12 + (act_bytes if act_bytes != 4 else 0)
    answers = rows * hf.vocab_size * per_logit
    if cfg.train.objective in USES_REFERENCE:
        how = ("a no-grad forward with the adapters off per micro-batch (+~1/3 step time)"
               if method.saves == "adapter" else "log-probabilities cached by one pass over the pairs before step 1")
        notes.append(f"train.objective={cfg.train.objective}: each pair is 2 rows (chosen, rejected); reference: {how}")
    return answers if fused else answers + tokens * hf.vocab_size * per_logit


def estimate(cfg: RunConfig, device: str = "cuda", hf_config=None, counts: Counts | None = None,
             world_size: int = 1) -> Estimate:
    hf = hf_config or model_config(cfg)
    counts = counts or count_parameters(cfg, hf)
    total, trainable, linear = counts.total, counts.trainable, counts.linear
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
    if device == "cpu" and getattr(cfg.method, "dropout", 0):
        # CPU dropout multiplies by an fp32 noise tensor and keeps it for backward (CUDA's fused dropout keeps
        # a 1-byte mask): each dropped-out input costs twice (measured, benchmarks/estimate_accuracy.py)
        no_dropout = cfg.method.model_copy(update={"dropout": 0.0})
        per_layer += method.activation_overhead(cfg.method, h, i) - method.activation_overhead(no_dropout, h, i)
    pairs = cfg.train.objective != "sft"
    mb = cfg.train.micro_batch_size * (2 if pairs else 1)  # rows: a pair is its chosen and its rejected answer
    tokens = mb * cfg.template.max_seq_len
    tokens += mb * method.virtual_tokens(cfg.method)  # prompt learning's virtual tokens
    if cfg.train.gradient_checkpointing:
        activations = tokens * act_bytes * (layers * h + 2 * per_layer)
        notes.append("gradient checkpointing: one layer's activations live at a time (~30% slower)")
    else:
        activations = tokens * act_bytes * layers * per_layer
    fused = cfg.train.fused_loss and counts.fused_ok and world_size == 1
    if cfg.train.fused_loss and not fused:
        why = "torchrun" if counts.fused_ok else (
            "prompt learning" if method.virtual_tokens(cfg.method) else "an adapter on lm_head")
        notes.append(f"train.fused_loss falls back to the full logits here ({why})")
    # plain: logits at every position the base model sees (prompt tuning's virtual tokens included)
    rows = mb * (cfg.template.max_seq_len - 1)
    loss = (preference_loss_memory(cfg, method, tokens, rows, hf, act_bytes, fused, notes) if pairs
            else loss_memory(tokens, rows, hf, act_bytes, fused, counts.head_trained))
    parts = {"weights": weights, "gradients": grads, "optimizer states": optimizer, "activations": activations,
             ("loss (answer log-probs)" if pairs else
              "loss (fused, chunked logits)" if fused else "logits + loss"): loss}
    if device == "cuda":
        parts["CUDA context + allocator slack"] = 0.6 * GiB + 0.05 * (activations + loss)
    return Estimate(parts, total + (trainable if adapter else 0), trainable, tokens, notes, fused)


def suggestions(cfg: RunConfig, budget: float, device: str = "cuda", limit: int = 3, hf_config=None,
                world_size: int = 1) -> list[tuple[list[str], Estimate]]:
    """Setting changes (as dotted overrides) that bring the peak under `budget`, fewest and cheapest
    first; each distinct set of changes once."""
    hf = hf_config or model_config(cfg)
    sizes = [cfg.train.micro_batch_size]
    while sizes[-1] > 1:
        sizes.append(max(1, sizes[-1] // 2))
    methods_to_try = [cfg.method.name] + [m for m in methods.LIGHTER if m != cfg.method.name and
                                          (not methods.get(m).needs_cuda or device == "cuda")]
    dtypes = [cfg.model.dtype] + (["bf16"] if cfg.model.dtype in ("fp32", "auto") and device == "cuda" else [])
    checkpointing = (True,) if cfg.train.gradient_checkpointing else (False, True)  # on already: stays on
    fused_options = (True,) if cfg.train.fused_loss else (False, True)
    found, seen, counts = [], set(), {}
    for method, dtype, fused, gc, mb in itertools.product(methods_to_try, dtypes, fused_options, checkpointing,
                                                          sizes):
        c = cfg.model_copy(deep=True)
        changes = []
        if method != cfg.method.name:
            c.method = methods.switch(c.method, method)
            changes.append(f"method.name={method}")
        if dtype != cfg.model.dtype:
            c.model.dtype = dtype
            changes.append(f"model.dtype={dtype}")
        if fused and not cfg.train.fused_loss:
            c.train.fused_loss = True
            changes.append("train.fused_loss=true")
        if gc and not cfg.train.gradient_checkpointing:
            c.train.gradient_checkpointing = True
            changes.append("train.gradient_checkpointing=true")
        if mb != cfg.train.micro_batch_size:
            accum = cfg.train.grad_accum * cfg.train.micro_batch_size // mb  # keep the global batch
            c.train.micro_batch_size, c.train.grad_accum = mb, accum
            changes += [f"train.micro_batch_size={mb}", f"train.grad_accum={accum}"]
        if not changes or tuple(changes) in seen:
            continue
        seen.add(tuple(changes))
        if method not in counts:  # building the meta model is the slow part: once per method
            counts[method] = count_parameters(c, hf)
        est = estimate(c, device, hf, counts[method], world_size)
        if est.peak <= budget:
            cost = (5 if method != cfg.method.name else 0) + (1 if dtype != cfg.model.dtype else 0) \
                + (2 if gc and not cfg.train.gradient_checkpointing else 0) + sizes.index(mb)
            found.append((cost, changes, est))
    found.sort(key=lambda x: (x[0], x[2].peak))
    return [(changes, est) for _, changes, est in found[:limit]]


def human(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB else f"{n / MiB:.1f} MiB"
