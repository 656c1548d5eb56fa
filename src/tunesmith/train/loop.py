"""The training loop: plain PyTorch, meant to be read top to bottom.

    result = train(load(RunConfig, "run.yaml"))          # or: tunesmith train run.yaml

One optimizer step = one window of grad_accum micro-batches in each process. The loss of every
micro-batch is its summed token cross-entropy divided by the trained tokens of the WHOLE window (all
micro-batches, all processes), so 4 x micro-batch 1 equals 1 x micro-batch 4 and padding never
changes the weighting (the bug of transformers#34191, trl#2175).

The loss itself is the objective's (`train.objective`, train/objectives.py): sft as above; dpo, ipo,
simpo and orpo on preference pairs, where a micro-batch of B pairs is one forward of 2B rows and the
window's normaliser is its number of pairs. Everything else (accumulation, clipping, resume, DDP/FSDP,
checkpoints) is the same code for both.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tunesmith.model import catalog
from tunesmith.model import load as model_load
from tunesmith import methods
from tunesmith.runs.config import RunConfig
from tunesmith.text.batching import Batcher, Sample
from tunesmith.train import checkpoint, distributed, objectives, plots, schedule
from tunesmith.train.loss import split_head, token_loss_sums
from tunesmith.train.metrics import MetricsLog
from tunesmith.train.preference import PairBatcher
from tunesmith.train.preflight import check_before_loading, check_after_loading, resolve
from tunesmith.io import atomic_dir
from tunesmith.runs.folder import RunFolder

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    losses: list[float] = field(default_factory=list)       # train loss of every optimizer step
    eval_loss: float | None = None
    interrupted: bool = False
    tokens_per_s: float = 0.0                               # non-pad tokens per second (forward + backward)
    trainable: tuple[int, int] = (0, 0)
    model: object = None                                    # the trained model (a PeftModel for adapters)
    tokenizer: object = None


def train(cfg: RunConfig, *, resume: str | bool | None = None, overwrite: bool = False,
          samples: list[Sample] | None = None, val_samples: list[Sample] | None = None,
          progress: bool = True) -> TrainResult:
    """Train as `cfg` says and write the run folder. `resume`: True (latest checkpoint) or a checkpoint path.
    `samples` skips reading data files (tests, benchmarks, callers that render themselves): Samples for
    train.objective=sft, PairSamples (text.render_pair) for a preference objective."""
    # -- 1. set-up: processes, checks that need nothing loaded, the run folder -------------------
    d = distributed.init()
    cfg = resolve(cfg)
    run = RunFolder(cfg.output_dir)
    resume_from = check_before_loading(cfg, d, run, resume, overwrite)
    torch.manual_seed(cfg.seed)

    # -- 2. tokenizer and data first (template and length errors come before the model loads) ---
    source = model_load.resolve(cfg.model)
    tokenizer = model_load.load_tokenizer(cfg.model, source)
    if samples is None:
        from tunesmith.train import data as train_data

        data = train_data.build(cfg, tokenizer)
        samples, val_samples, data_files, data_stats = data.train, data.val, data.files, data.stats
        if d.main:
            print(f"data: {len(samples)} training samples ({data_stats['train_tokens']:,} tokens, "
                  f"{data_stats['trained_tokens']:,} trained), {len(val_samples)} validation samples", flush=True)
    else:
        data_files, data_stats = [], {"train_samples": len(samples)}
    val_samples = val_samples or []
    model = model_load.load_model(cfg.model, source, device=d.device)
    tc = cfg.train
    objective = objectives.build(cfg)  # sft, or a preference objective on pairs (train/objectives.py)
    batcher_type = PairBatcher if objective.pairs else Batcher  # a pair batch holds both answers of each pair
    batcher = batcher_type(samples, tc.micro_batch_size, tokenizer.pad_token_id, packing=tc.packing,
                           max_seq_len=cfg.template.max_seq_len, group_by_length=tc.group_by_length,
                           packing_attention=packing_attention(cfg), seed=cfg.seed)
    total = schedule.total_steps(tc, len(batcher), d.world_size)

    # -- 3. the method: which parameters train --------------------------------------------------
    if tc.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    method = methods.get(cfg.method.name)
    model = method.apply(model, cfg.method, methods.MethodContext(total_steps=total, tokenizer_path=source.location))
    check_after_loading(cfg, model, d)
    trainable = methods.count_parameters(model)
    if d.main:
        print(methods.describe(model, cfg.method.name), flush=True)
    peft_model = model  # the unwrapped model: saving, AdaLoRA's rank allocation, generation
    model = distributed.wrap(model, tc.distributed, d)
    if tc.neftune_alpha:
        add_neftune(peft_model, tc.neftune_alpha)

    # -- 4. optimizer, schedule, precision ------------------------------------------------------
    optimizer = build_optimizer(model, tc, d.device)
    scheduler = schedule.build(optimizer, tc, total)
    autocast_dtype = autocast_precision(cfg, d.device)
    scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 else None
    # The reference of DPO/IPO is the model as it is now, before any step or checkpoint changes it.
    objective.prepare(model=model, peft_model=peft_model, samples=samples, val_samples=val_samples,
                      micro_batch_size=tc.micro_batch_size, run_root=run.root, resumed=resume_from is not None, d=d,
                      autocast_ctx=lambda: autocast(d.device, autocast_dtype))

    # -- 5. resume or start -----------------------------------------------------------------------
    start_step, tokens_seen = 0, 0
    if resume_from is not None:
        state, extra = checkpoint.load(resume_from, model=model, optimizer=optimizer, scheduler=scheduler, rank=d.rank)
        start_step, tokens_seen = state["step"], state["tokens_seen"]
        restore_extra(peft_model, scaler, extra, method)
        if d.main:
            print(f"resumed from {resume_from} at step {start_step}/{total}", flush=True)
    if d.main and resume_from is None:
        run.create(cfg, data_files, {"data_stats": data_stats, "world_size": d.world_size, "device": str(d.device),
                                     "total_steps": total, "trainable_parameters": trainable[0],
                                     "total_parameters": trainable[1]})
    metrics = MetricsLog(run.metrics, run.tensorboard, resume_step=start_step if resume_from else None) \
        if d.main else None
    stop = StopFlag()
    result = TrainResult(run.root, total, trainable=trainable, model=peft_model, tokenizer=tokenizer)
    bar = progress_bar(total, start_step, d.main and progress)

    # -- 6. the loop ------------------------------------------------------------------------------
    fused = split_head(model) if tc.fused_loss and d.world_size == 1 else None
    per_step = tc.grad_accum * d.world_size
    model.train()
    t_start, tokens_timed = time.perf_counter(), 0
    with stop.installed():
        for step in range(start_step, total):
            t0 = time.perf_counter()
            window = [batcher.micro_batch(step * per_step + k) for k in range(per_step)]
            window_tokens = sum(batcher.trained_tokens(m) for m in window)  # every process counts the same
            norm = objective.normaliser(batcher, window)  # SFT: the window's trained tokens; pairs: its pairs
            mine = window[d.rank::d.world_size]
            loss_sum, step_tokens, stats = 0.0, 0, objective.empty_stats()
            for k, micro in enumerate(mine):
                batch = {key: t.to(d.device) for key, t in batcher.collate(micro).items()}
                step_tokens += int(sum(len(samples[i]) for row in micro for i in row))
                with distributed.no_sync(model, last_micro=k == len(mine) - 1), autocast(d.device, autocast_dtype):
                    micro_loss, micro_stats = objective.loss(model, batch, norm, fused)
                    if fused is not None or objective.pairs:  # not through PEFT's forward, which adds it itself
                        micro_loss = micro_loss + method.regulariser(peft_model)
                    # DDP and FSDP average gradients over processes; the window normaliser already covers
                    # every process, so undo that average.
                    loss = micro_loss * d.world_size
                (scaler.scale(loss) if scaler else loss).backward()
                loss_sum += float(micro_loss.detach())
                stats = {k: stats[k] + v for k, v in micro_stats.items()}
            if scaler:
                scaler.unscale_(optimizer)
            grad_norm = clip_gradients(model, tc.max_grad_norm)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            method.after_optimizer_step(peft_model, step)  # AdaLoRA prunes ranks here
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            # -- bookkeeping: metrics, progress, evaluation, checkpoints --------------------------
            step_loss = distributed.sum_across(loss_sum, d)
            step_tokens = int(distributed.sum_across(step_tokens, d))
            tokens_seen += step_tokens
            tokens_timed += step_tokens
            elapsed = time.perf_counter() - t0
            result.losses.append(step_loss)
            record = {"step": step + 1, "epoch": round((step + 1) * per_step / len(batcher), 4), "loss": step_loss,
                      "lr": lr, "grad_norm": grad_norm, "trained_tokens": window_tokens, "tokens": step_tokens,
                      "tokens_seen": tokens_seen, "tok_s": step_tokens / max(elapsed, 1e-9),
                      **objective.step_metrics(stats, d)}
            last = step + 1 == total
            if val_samples and ((tc.eval_every and (step + 1) % tc.eval_every == 0) or last):
                if objective.pairs:  # eval_loss and eval_ rewards, preference accuracy on the held-out pairs
                    record.update(objective.evaluate(model, val_samples, tc.micro_batch_size, d,
                                                     lambda: autocast(d.device, autocast_dtype), fused))
                else:
                    record["eval_loss"] = evaluate(model, val_samples, tokenizer.pad_token_id, tc.micro_batch_size, d,
                                                   autocast_dtype)
                result.eval_loss = record["eval_loss"]
                model.train()
            if metrics and ((step + 1) % tc.log_every == 0 or last or "eval_loss" in record):
                metrics.log(record)
            if bar is not None:
                bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{record['tok_s']:.0f}", refresh=False)
                bar.update(1)
            # Every process must agree to stop at the same step: saving a checkpoint is collective.
            interrupted = distributed.sum_across(float(stop.requested), d) > 0 and not last
            if (tc.save_every and (step + 1) % tc.save_every == 0 and not last) or interrupted:
                save_checkpoint(run, step + 1, model, peft_model, optimizer, scheduler, scaler, tokens_seen, cfg, d)
            if interrupted:
                result.interrupted = True
                if d.main:
                    print(f"\ninterrupted: saved checkpoint step-{step + 1}; continue with --resume", flush=True)
                break
    if bar is not None:
        bar.close()
    result.tokens_per_s = tokens_timed / max(time.perf_counter() - t_start, 1e-9)

    # -- 7. outputs -------------------------------------------------------------------------------
    if not result.interrupted:
        save_final(run, model, peft_model, tokenizer, cfg, d)
    if metrics:
        metrics.close()
        plots.loss_curve(run.metrics, run.loss_curve)
    distributed.shutdown(d)
    return result


# ---------------------------------------------------------------------------------------------
# The pieces the loop calls
# ---------------------------------------------------------------------------------------------

def build_optimizer(model, tc, device) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and 1-D parameters; fused kernels on CUDA."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(0.9, 0.999), eps=1e-8, fused=device.type == "cuda")


def autocast_precision(cfg: RunConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for none (fp32, or weights already in the compute dtype)."""
    p = cfg.train.precision
    if p == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[p]


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def clip_gradients(model, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else math.inf)
    if hasattr(norm, "full_tensor"):  # FSDP2: a DTensor
        norm = norm.full_tensor()
    return float(norm)


def packing_attention(cfg: RunConfig) -> str:
    if cfg.train.packing_attention != "auto":
        return cfg.train.packing_attention
    kernels_that_cut = ("flash_attention_2", "flex_attention")
    return "position_ids" if cfg.model.attn_implementation in kernels_that_cut else "block_mask"


@torch.no_grad()
def evaluate(model, samples: list[Sample], pad_id: int, micro_batch_size: int, d, autocast_dtype) -> float:
    """Mean cross-entropy per trained token over the validation samples (plain CE, no regularisers)."""
    model.eval()
    batcher = Batcher(samples, micro_batch_size, pad_id, group_by_length=False, shuffle=False)
    total = torch.zeros(2, dtype=torch.float64, device=d.device)
    rounds = -(-len(batcher) // d.world_size)  # FSDP: every process must run the same number of forwards
    for index in range(d.rank, rounds * d.world_size, d.world_size):
        batch = {k: t.to(d.device) for k, t in batcher.collate(batcher.micro_batch(index % len(batcher))).items()}
        with autocast(d.device, autocast_dtype):
            loss_sums, tokens = token_loss_sums(model, batch)
        if index >= len(batcher):
            continue  # a filler forward to keep the processes in step; not counted
        total[0] += loss_sums.sum()
        total[1] += tokens.sum()
    if d.enabled:
        torch.distributed.all_reduce(total)
    return float(total[0] / total[1].clamp_min(1))


def add_neftune(model, alpha: float) -> None:
    """NEFTune: uniform noise of scale alpha / sqrt(seq_len * hidden) on the input embeddings, in training only."""
    embeddings = model.get_input_embeddings()

    def hook(module, args, output):
        if module.training:
            scale = alpha / math.sqrt(output.shape[-2] * output.shape[-1])
            output = output + torch.zeros_like(output).uniform_(-scale, scale)
        return output

    embeddings.register_forward_hook(hook)


def save_checkpoint(run: RunFolder, step: int, model, peft_model, optimizer, scheduler, scaler, tokens_seen: int,
                    cfg: RunConfig, d) -> None:
    from tunesmith.config import to_yaml

    state = {"step": step, "tokens_seen": tokens_seen, "world_size": d.world_size,
             "config": to_yaml(cfg, comments=False)}
    checkpoint.save(run.checkpoints / f"step-{step}", model=model, optimizer=optimizer, scheduler=scheduler,
                    state=state, extra=collect_extra(peft_model, scaler, methods.get(cfg.method.name)), rank=d.rank,
                    keep=cfg.train.keep_checkpoints)


def collect_extra(peft_model, scaler, method: methods.Method) -> dict:
    extra: dict = {"scaler": scaler.state_dict() if scaler else None}
    state = method.checkpoint_state(peft_model)  # AdaLoRA's importance scores decide future pruning
    if state is not None:
        extra[method.name] = state
    return extra


def restore_extra(peft_model, scaler, extra: dict, method: methods.Method) -> None:
    if scaler is not None and extra.get("scaler"):
        scaler.load_state_dict(extra["scaler"])
    if method.name in extra:
        method.restore_state(peft_model, extra[method.name])


def save_final(run: RunFolder, model, peft_model, tokenizer, cfg: RunConfig, d) -> None:
    """adapter/ + tokenizer/ for adapter methods, model/ (with its tokenizer) for full and freeze."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)) \
        if d.enabled else None
    if not d.main:
        return
    if methods.get(cfg.method.name).saves == "adapter":
        from peft import get_peft_model_state_dict

        with atomic_dir(run.adapter) as tmp:
            state = get_peft_model_state_dict(peft_model, state_dict=full) if full is not None else None
            peft_model.save_pretrained(tmp, state_dict=state)
            name_base(tmp / "adapter_config.json", catalog.portable_name(cfg.model.path))
        with atomic_dir(run.tokenizer) as tmp:
            tokenizer.save_pretrained(tmp)
    else:
        with atomic_dir(run.model) as tmp:
            peft_model.save_pretrained(tmp, state_dict=full)
            tokenizer.save_pretrained(tmp)


def name_base(adapter_config: Path, name: str) -> None:
    """adapter_config.json names the base as the run's config does, not by the folder it resolved to
    on this machine, so the run still loads elsewhere (the local path stays in config.yaml). Set after
    saving: PEFT looks the name up while saving, and a hub id on an offline machine would wait on retries."""
    import json

    data = json.loads(adapter_config.read_text(encoding="utf-8"))
    data["base_model_name_or_path"] = name
    adapter_config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


class StopFlag:
    """Ctrl-C ends the current step, saves a checkpoint and exits cleanly; a second Ctrl-C aborts."""

    def __init__(self):
        self.requested = False

    def installed(self):
        import contextlib
        import threading

        @contextlib.contextmanager
        def scope():
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                if self.requested:
                    raise KeyboardInterrupt
                self.requested = True
                print("\nstopping after this step (Ctrl-C again to abort without saving)", flush=True)

            signal.signal(signal.SIGINT, handler)
            try:
                yield
            finally:
                signal.signal(signal.SIGINT, previous)
        return scope()


def progress_bar(total: int, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
