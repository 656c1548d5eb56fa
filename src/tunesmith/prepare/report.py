"""What `data prepare` tells the user: counts per step and reason, length histograms, language mix,
PII found, a few rejected examples per reason, the records kept but flagged for review (by step and
reason, with examples), and a sample of what each step changed. Built incrementally from shard stats
and the streams of kept and rejected records, so memory stays flat however large the data.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tunesmith.records.example import Example
from tunesmith.prepare.report_pii import mask_summary
from tunesmith.prepare.review import merge_samples
from tunesmith.prepare.stage import LENGTH_BINS, length_bin, record_chars, stats_from_json
from tunesmith.prepare.steps.base import StepStats

LANGUAGE_SAMPLE = 2000   # kept records whose language is sampled when no language step ran
FLAG_EXAMPLES = 5        # flagged records kept per step and reason, per tally


@dataclass
class KeptTally:
    """Length histogram of kept records, the first `sample_size` of their texts (for the language mix),
    and the kept records that carry flags (`meta["flags"]`): counted by "step/reason", the first few
    kept as examples. The main process keeps one; final shards that write their own output lines keep
    one each."""
    sample_size: int
    lengths: Counter = field(default_factory=Counter)
    sample: list[str] = field(default_factory=list)
    flagged: Counter = field(default_factory=Counter)                 # "step/reason" -> kept records
    flagged_records: int = 0                                          # kept records with any flag
    flag_examples: dict[str, list[dict]] = field(default_factory=dict)
    max_examples: int = FLAG_EXAMPLES

    def add(self, example: Example) -> None:
        self.lengths[length_bin(record_chars(example))] += 1
        if len(self.sample) < self.sample_size:
            self.sample.append(" ".join(example.texts(("all",))))
        flags = example.meta.get("flags")
        if flags:
            self.flagged_records += 1
            self._add_flags(example, flags)

    def _add_flags(self, example: Example, flags: list) -> None:
        for flag in {(f.get("step", "?"), f.get("reason", "")): f for f in flags if isinstance(f, dict)}.values():
            key = f"{flag.get('step', '?')}/{flag.get('reason', '')}"
            self.flagged[key] += 1
            shown = self.flag_examples.setdefault(key, [])
            if len(shown) < self.max_examples:
                shown.append({"step": flag.get("step", "?"), "reason": flag.get("reason", ""),
                              "detail": flag.get("detail", ""), "record": example.to_dict()})

    def to_json(self) -> dict:
        out = {"lengths": {str(k): v for k, v in self.lengths.items()}, "sample": self.sample}
        if self.flagged:
            out["flagged"] = dict(self.flagged)
            out["flagged_records"] = self.flagged_records
            out["flag_examples"] = self.flag_examples
        return out

    def merge(self, d: dict) -> None:
        """Add a shard's `to_json()`."""
        self.lengths.update({int(k): v for k, v in d["lengths"].items()})
        self.sample += d["sample"][:self.sample_size - len(self.sample)]
        self.flagged.update(d.get("flagged", {}))
        self.flagged_records += d.get("flagged_records", 0)
        for key, rows in d.get("flag_examples", {}).items():
            shown = self.flag_examples.setdefault(key, [])
            shown += rows[:self.max_examples - len(shown)]


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
        self.kept = KeptTally(0 if self.has_language_step else LANGUAGE_SAMPLE, max_examples=cfg.report_examples)
        self.changes_sample: dict[str, list[dict]] = {}

    def add_shard(self, stats: dict, first_stage: bool) -> None:
        for label, d in stats["stats"].items():
            self.steps.setdefault(label, StepStats()).add(stats_from_json(d))
        if stats.get("changes_sample"):
            merge_samples(self.changes_sample, stats["changes_sample"])
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
        return mask_summary({  # the report is what gets shared: its quoted records with PII masked
            "counts": {"read": self.read, "kept": result.kept, "rejected": result.rejected,
                       "kept_share": round(result.kept / self.read, 4) if self.read else 0.0,
                       "flagged": self.kept.flagged_records},
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
            "flags": self._flags(steps),
            "flag_examples": self.kept.flag_examples,
            "changes": self._changes(result, steps),
            "pii": self._prefixed(steps, "pii", ""),
            "safety": self._prefixed(steps, "safety", ""),
            "tokenizers": self._tokenizers(steps),
            "examples": dict(self.examples),
            "config": self.config_yaml,
        })

    def _flags(self, steps: dict) -> list[dict]:
        """Per step and reason: records kept and flagged (`kept`), and flags set when the step ran
        (`flagged`; more when a flagged record was dropped by a later step)."""
        by_name: Counter = Counter()
        for label, s in steps.items():
            by_name.update({f"{label.split('#')[0]}/{r}": n for r, n in s.get("flagged", {}).items()})
        keys = sorted(set(by_name) | set(self.kept.flagged), key=lambda k: (-self.kept.flagged.get(k, 0), k))
        return [{"step": k.split("/", 1)[0], "reason": k.split("/", 1)[1], "kept": self.kept.flagged.get(k, 0),
                 "flagged": by_name.get(k, 0)} for k in keys]

    def _changes(self, result, steps: dict) -> dict:
        """Records changed per step, the file (next to the report) that lists them all, and a deterministic
        sample for the diffs."""
        return {"file": result.changes_path.name if getattr(result, "changes_path", None) else None,
                "rows": getattr(result, "changes", 0),
                "by_step": {label: s["changed"] for label, s in steps.items() if s["changed"]},
                "sample": {label: rows for label, rows in self.changes_sample.items()}}

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
        from tunesmith.prepare.steps.language import LanguageDetector

        detector = LanguageDetector()
        found = Counter(detector.label(text) for text in self.kept.sample)
        return {"source": f"sample of {len(self.kept.sample)} kept records", "counts": dict(found.most_common())}

    @staticmethod
    def _tokenizers(steps: dict) -> list[dict]:
        """The tokenizer each token-counting step counted with, and its tokens per Chinese character."""
        out = []
        for label, s in steps.items():
            names = [k[len("tokenizer: "):] for k in s["counts"] if k.startswith("tokenizer: ")]
            if names:
                chars, tokens = s["counts"].get("chinese_chars", 0), s["counts"].get("chinese_tokens", 0)
                out.append({"step": label, "tokenizer": names[0], "chinese_chars": chars,
                            "tokens_per_chinese_char": round(tokens / chars, 3) if chars else None})
        return out

    @staticmethod
    def _prefixed(steps: dict, name: str, prefix: str) -> dict:
        total: Counter = Counter()
        for label, s in steps.items():
            if label.split("#")[0] == name:
                total.update({k[len(prefix):]: v for k, v in s["counts"].items() if k.startswith(prefix)})
        return dict(total.most_common())
