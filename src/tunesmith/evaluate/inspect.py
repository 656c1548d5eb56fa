"""What a data file becomes under a template and tokenizer: rendered samples with the trained tokens
highlighted and the masked ones dimmed, and statistics (length distribution, truncation rate,
trained-token share, tokens per character by script: Llama 2's vocabulary splits Chinese finely).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from tunesmith.records import formats
from tunesmith.records.example import Example
from tunesmith.records.formats import BadRecord
from tunesmith.errors import TunesmithError
from tunesmith.text.render import TooLong, render
from tunesmith.text.sample import IGNORE_INDEX, Sample
from tunesmith.text.spm import encode_plain, ensure_faithful
from tunesmith.text.templates import get_template


@dataclass
class Inspection:
    records: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    rendered: int = 0
    dropped: list[str] = field(default_factory=list)   # "file:line: why" of samples that did not fit
    truncated: int = 0
    lengths: list[int] = field(default_factory=list)
    tokens: int = 0
    trained: int = 0
    # script -> [records, characters, tokens] of the records' own text (no template)
    by_script: dict = field(default_factory=dict)
    samples: list[tuple[Example, Sample]] = field(default_factory=list)

    def summary(self) -> dict:
        lengths = sorted(self.lengths)

        def pct(p):
            return lengths[min(len(lengths) - 1, int(p * len(lengths)))] if lengths else 0

        seen = self.rendered + len(self.dropped)
        return {
            "records": self.records, "bad_records": len(self.bad), "rendered": self.rendered,
            "dropped_too_long": len(self.dropped), "truncated": self.truncated,
            "truncation_rate": (self.truncated + len(self.dropped)) / seen if seen else 0.0,
            "tokens": self.tokens, "trained_tokens": self.trained,
            "trained_share": self.trained / self.tokens if self.tokens else 0.0,
            "length": {"min": lengths[0] if lengths else 0, "mean": statistics.fmean(lengths) if lengths else 0.0,
                       "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": lengths[-1] if lengths else 0},
            "tokens_per_char": {script: {"records": r, "chars": c, "tokens": t, "tokens_per_char": t / c if c else 0.0}
                                for script, (r, c, t) in sorted(self.by_script.items())},
        }


def load_tokenizer_for(path: str):
    """A tokenizer from an embedded model name, a model folder, a tokenizer-only folder, or a hub id."""
    p = Path(path).expanduser()
    if p.is_dir() and not (p / "config.json").is_file():
        from transformers import AutoTokenizer

        try:
            return ensure_faithful(AutoTokenizer.from_pretrained(p))
        except (OSError, ValueError) as e:
            raise TunesmithError(f"cannot load a tokenizer from {p}: {e}",
                                 "give a model folder, a tokenizer folder or an embedded name such as smollm2") from None
    from tunesmith.config import ModelConfig
    from tunesmith.model.load import load_tokenizer

    return load_tokenizer(ModelConfig(path=path))


def inspect(path, template_name: str, tokenizer, *, max_seq_len: int = 1024, train_on: str = "all",
            truncation: str = "cut_oldest", fmt: str = "auto", system: str | None = None, samples: int = 3,
            limit: int | None = None, progress: bool = False) -> Inspection:
    template = get_template(template_name, tokenizer)
    result = Inspection()
    items = formats.read(path, fmt)
    for item in tqdm(items, desc=f"inspect {Path(path).name}", unit=" rec", disable=not progress, leave=False):
        if limit is not None and result.records + len(result.bad) >= limit:
            break
        if isinstance(item, BadRecord):
            result.bad.append(item)
            continue
        result.records += 1
        if item.system is None and system is not None:
            item.system = system
        _count_script(result, item, tokenizer)
        try:
            r = render(item, template, tokenizer, max_seq_len=max_seq_len, train_on=train_on, truncation=truncation)
        except TooLong as e:
            result.dropped.append(e.message)
            continue
        result.rendered += 1
        result.truncated += r.truncated
        result.lengths.append(len(r.input_ids))
        result.tokens += len(r.input_ids)
        result.trained += r.trained_tokens
        if len(result.samples) < samples:
            result.samples.append((item, r))
    return result


def script_of(text: str) -> str:
    """'zh' when most letters are CJK ideographs, else 'other'."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    letters = sum(1 for ch in text if ch.isalpha())
    return "zh" if letters and cjk / letters > 0.5 else "other"


def _count_script(result: Inspection, example: Example, tokenizer) -> None:
    texts = list(example.texts())
    joined = "\n".join(texts)
    entry = result.by_script.setdefault(script_of(joined), [0, 0, 0])
    entry[0] += 1
    entry[1] += sum(len(t) for t in texts)
    entry[2] += sum(len(encode_plain(tokenizer, t)) for t in texts)


def segments(rendered: Sample, tokenizer) -> list[tuple[str, bool]]:
    """(text, trained) runs of a rendered sample, decoded for display (special tokens shown)."""
    runs: list[tuple[list[int], bool]] = []
    for tid, label in zip(rendered.input_ids, rendered.labels):
        trained = label != IGNORE_INDEX
        if runs and runs[-1][1] == trained:
            runs[-1][0].append(tid)
        else:
            runs.append(([tid], trained))
    out, done, text_so_far = [], [], ""
    for ids, trained in runs:
        done += ids
        text = tokenizer.decode(done, skip_special_tokens=False)
        # Decoding the longer prefix keeps word-initial spaces that decoding the run alone would strip.
        piece = text[len(text_so_far):] if text.startswith(text_so_far) else tokenizer.decode(ids)
        out.append((piece, trained))
        text_so_far = text
    return out
