"""What `data prepare` tells the user: counts per step and reason, length histograms, language mix,
PII found, and a few rejected examples per reason. Built incrementally from shard stats and the
streams of kept and rejected records, so memory stays flat however large the data.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tunesmith.data.example import Example
from tunesmith.data.pipeline_stage import LENGTH_BINS, length_bin, record_chars, stats_from_json
from tunesmith.data.steps.base import StepStats

LANGUAGE_SAMPLE = 2000   # kept records whose language is sampled when no language step ran


@dataclass
class KeptTally:
    """Length histogram of kept records, and the first `sample_size` of their texts (for the language
    mix). The main process keeps one; final shards that write their own output lines keep one each."""
    sample_size: int
    lengths: Counter = field(default_factory=Counter)
    sample: list[str] = field(default_factory=list)

    def add(self, example: Example) -> None:
        self.lengths[length_bin(record_chars(example))] += 1
        if len(self.sample) < self.sample_size:
            self.sample.append(" ".join(example.texts(("all",))))

    def to_json(self) -> dict:
        return {"lengths": {str(k): v for k, v in self.lengths.items()}, "sample": self.sample}

    def merge(self, d: dict) -> None:
        """Add a shard's `to_json()`."""
        self.lengths.update({int(k): v for k, v in d["lengths"].items()})
        self.sample += d["sample"][:self.sample_size - len(self.sample)]


class ReportBuilder:
    def __init__(self, cfg, labels: list[str]) -> None:
        from tunesmith.config import to_yaml

        self.config_yaml = to_yaml(cfg, comments=False)
        self.labels = labels
        self.steps: dict[str, StepStats] = {label: StepStats() for label in labels}
        self.read = 0
        self.lengths_before: Counter = Counter()
        self.drops: Counter = Counter()
        self.examples: dict[str, list[dict]] = defaultdict(list)
        self.max_examples = cfg.report_examples
        self.has_language_step = any(label.split("#")[0] == "language" for label in labels)
        self.kept = KeptTally(0 if self.has_language_step else LANGUAGE_SAMPLE)

    def add_shard(self, stats: dict, first_stage: bool) -> None:
        for label, d in stats["stats"].items():
            self.steps.setdefault(label, StepStats()).add(stats_from_json(d))
        if first_stage:
            self.read += stats["kept"] + stats["rejected"]
            self.lengths_before.update({int(k): v for k, v in stats["lengths_in"].items()})

    def add_kept(self, example: Example) -> None:
        self.kept.add(example)

    def add_rejected(self, row: dict) -> None:
        key = f"{row['step']}/{row['reason']}"
        self.drops[key] += 1
        shown = self.examples[key]
        if len(shown) < self.max_examples:
            shown.append(row)

    def finish(self, result) -> dict:
        steps = {label: s.to_dict() for label, s in self.steps.items()}
        return {
            "counts": {"read": self.read, "kept": result.kept, "rejected": result.rejected,
                       "kept_share": round(result.kept / self.read, 4) if self.read else 0.0},
            "seconds": round(result.seconds, 3),
            "records_per_second": round(self.read / result.seconds, 1) if result.seconds else None,
            "resumed_shards": result.resumed_shards,
            "output": str(result.output),
            "steps": steps,
            "drops": [{"step": k.split("/", 1)[0], "reason": k.split("/", 1)[1], "count": v}
                      for k, v in self.drops.most_common()],
            "lengths": {"bins": LENGTH_BINS, "before": [self.lengths_before.get(i, 0) for i in range(len(LENGTH_BINS))],
                        "after": [self.kept.lengths.get(i, 0) for i in range(len(LENGTH_BINS))]},
            "languages": self._languages(steps),
            "pii": self._prefixed(steps, "pii", ""),
            "safety": self._prefixed(steps, "safety", ""),
            "examples": dict(self.examples),
            "config": self.config_yaml,
        }

    def _languages(self, steps: dict) -> dict:
        """Language mix: from the language step if there is one (every record it saw), else a sample."""
        if self.has_language_step:
            found: Counter = Counter()
            for label, s in steps.items():
                if label.split("#")[0] == "language":
                    found.update({k[5:]: v for k, v in s["counts"].items() if k.startswith("lang:")})
                    break  # the first language step saw the most records
            return {"source": "language step", "counts": dict(found.most_common())}
        if not self.kept.sample:
            return {"source": "none", "counts": {}}
        from tunesmith.data.steps.language import LanguageDetector

        detector = LanguageDetector()
        found = Counter(detector.label(text) for text in self.kept.sample)
        return {"source": f"sample of {len(self.kept.sample)} kept records", "counts": dict(found.most_common())}

    @staticmethod
    def _prefixed(steps: dict, name: str, prefix: str) -> dict:
        total: Counter = Counter()
        for label, s in steps.items():
            if label.split("#")[0] == name:
                total.update({k[len(prefix):]: v for k, v in s["counts"].items() if k.startswith(prefix)})
        return dict(total.most_common())
