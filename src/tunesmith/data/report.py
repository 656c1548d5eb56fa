"""What `data prepare` tells the user: counts per step and reason, length histograms, language mix,
PII found, and a few rejected examples per reason. Built incrementally from shard stats and the
streams of kept and rejected records, so memory stays flat however large the data.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from tunesmith.data.example import Example
from tunesmith.data.pipeline_stage import LENGTH_BINS, length_bin, record_chars, stats_from_json
from tunesmith.data.steps.base import StepStats

LANGUAGE_SAMPLE = 2000   # kept records whose language is sampled when no language step ran


class ReportBuilder:
    def __init__(self, cfg, labels: list[str]) -> None:
        from tunesmith.config import to_yaml

        self.config_yaml = to_yaml(cfg, comments=False)
        self.labels = labels
        self.steps: dict[str, StepStats] = {label: StepStats() for label in labels}
        self.read = 0
        self.lengths_before: Counter = Counter()
        self.lengths_after: Counter = Counter()
        self.drops: Counter = Counter()
        self.examples: dict[str, list[dict]] = defaultdict(list)
        self.max_examples = cfg.report_examples
        self.language_sample: list[str] = []
        self.has_language_step = any(label.split("#")[0] == "language" for label in labels)

    def add_shard(self, stats: dict, first_stage: bool) -> None:
        for label, d in stats["stats"].items():
            self.steps.setdefault(label, StepStats()).add(stats_from_json(d))
        if first_stage:
            self.read += stats["kept"] + stats["rejected"]
            self.lengths_before.update({int(k): v for k, v in stats["lengths_in"].items()})

    def add_kept(self, example: Example) -> None:
        self.lengths_after[length_bin(record_chars(example))] += 1
        if not self.has_language_step and len(self.language_sample) < LANGUAGE_SAMPLE:
            self.language_sample.append(" ".join(example.texts(("all",))))

    def add_output(self, stats: dict) -> None:
        """What a final shard that wrote its own output lines says about them (pipeline_output.py)."""
        self.lengths_after.update({int(k): v for k, v in stats["lengths"].items()})
        if not self.has_language_step:
            self.language_sample += stats["sample"][:LANGUAGE_SAMPLE - len(self.language_sample)]

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
                        "after": [self.lengths_after.get(i, 0) for i in range(len(LENGTH_BINS))]},
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
        if not self.language_sample:
            return {"source": "none", "counts": {}}
        from tunesmith.data.steps.language import LanguageDetector

        detector = LanguageDetector()
        found = Counter(detector.label(text) for text in self.language_sample)
        return {"source": f"sample of {len(self.language_sample)} kept records", "counts": dict(found.most_common())}

    @staticmethod
    def _prefixed(steps: dict, name: str, prefix: str) -> dict:
        total: Counter = Counter()
        for label, s in steps.items():
            if label.split("#")[0] == name:
                total.update({k[len(prefix):]: v for k, v in s["counts"].items() if k.startswith(prefix)})
        return dict(total.most_common())
