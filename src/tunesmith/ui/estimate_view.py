"""The live memory estimate of the Train tab: `tunesmith.train.estimate`, as `tunesmith estimate` prints it.

Built on every valid form change, so it is cached by the config: the estimate builds the model on the
meta device and applies the method, which takes a moment for a 70B shape.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from tunesmith.errors import TunesmithError
from tunesmith.runs.config import RunConfig
from tunesmith.ui.cache import Lru

_cache = Lru(32)


def estimate(cfg: RunConfig, root: Path, device: str, memory: str | None) -> dict:
    key = (cfg.model_dump_json(), str(root), device, memory or "")
    return _cache.get_or_make(key, lambda: _estimate(cfg, root, device, memory))


def _estimate(cfg: RunConfig, root: Path, device: str, memory: str | None) -> dict:
    from tunesmith.model import catalog

    try:
        from tunesmith.train import estimate as est
    except ImportError:  # an install older than `tunesmith estimate`
        return {"error": "this tunesmith has no memory estimate (tunesmith.train.estimate)", "hint": None}
    command = shlex.join(["tunesmith", "estimate", "RUN.yaml", "--device", device] + (["--memory", memory] if memory
                                                                                       else []))
    if cfg.model.path in catalog.EMBEDDED and not catalog.is_pulled(cfg.model.path):
        # Estimating would pull (convert) the model first; that is the user's call, not a keystroke's.
        return {"error": f"the embedded model {cfg.model.path} is not pulled yet",
                "hint": f"tunesmith models pull {cfg.model.path}", "command": command}
    local = Path(cfg.model.path).expanduser()
    if not local.is_absolute() and (root / local).exists():
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": str(root / local)})})
    try:
        budget = est.parse_memory(memory) if memory else None
        hf = est.model_config(cfg)
        e = est.estimate(cfg, device, hf)
        options = est.suggestions(cfg, budget, device, hf_config=hf) if budget and e.peak > budget else []
    except TunesmithError as err:
        return {"error": err.message, "hint": err.hint, "command": command}
    return {
        "parts": [{"name": k, "bytes": v, "human": est.human(v)} for k, v in e.parts.items()],
        "peak": e.peak, "peak_human": est.human(e.peak), "total_params": e.total_params,
        "trainable_params": e.trainable_params, "tokens": e.tokens, "notes": e.notes, "device": device,
        "budget": budget, "fits": None if budget is None else e.peak <= budget,
        "suggestions": [{"overrides": changes, "peak_human": est.human(o.peak)} for changes, o in options],
        "command": command,
    }
