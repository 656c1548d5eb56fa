"""Metrics of a run: one JSON object per line in metrics.jsonl, and the same scalars for TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path


class MetricsLog:
    """Append-only; a resumed run keeps appending (entries past the resume step are dropped first)."""

    def __init__(self, path: Path, tensorboard_dir: Path | None = None, resume_step: int | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and path.is_file():
            # Steps after the checkpoint were never "done" as far as the resumed run is concerned.
            kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        elif path.exists():
            path.unlink()
        self._file = open(path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(tensorboard_dir), purge_step=resume_step + 1 if resume_step else None)
            except ImportError:  # tensorboard is a dependency, but the JSONL is what matters
                self._tb = None

    def log(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        if self._tb is not None:
            step = record.get("step", 0)
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(key.replace("_", "/", 1) if key.startswith(("train_", "eval_")) else key,
                                        value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
