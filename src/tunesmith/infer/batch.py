"""`tunesmith generate`: answer every prompt of a file, batched, into a JSONL file.

Input: any format tunesmith reads (alpaca, sharegpt, messages, conversation text, csv; json, jsonl,
csv, parquet). A record that ends with a user turn is a prompt; one that ends with an answer is
asked its last question, and the answer it carries is written as `reference` for comparison.
Output, one line per record in input order:

    {"id": ..., "source": "file:line", "prompt": the last question as the model is asked it (an
     Alpaca record's instruction, then its input on the next line), "answer": ..., "reference": ...,
     "finish_reason": "stop" | "length", "prompt_tokens": n, "completion_tokens": n}

A record that cannot be read, or whose prompt does not fit the context, gets an `error` line (and
is counted); `strict` stops at the first one instead. The file is written whole or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tunesmith.errors import DataError, TunesmithError
from tunesmith.infer.generate import PromptTooLong, Sampling, fit, generate_batch
from tunesmith.io import atomic_write_text


@dataclass
class BatchSummary:
    written: int = 0
    answered: int = 0
    errors: list[str] = field(default_factory=list)
    stopped_by_length: int = 0


def generate_file(target, in_path: str | Path, out_path: str | Path, sampling: Sampling, *,
                  batch_size: int = 8, strict: bool = False, progress: bool = True) -> BatchSummary:
    from tunesmith.records.formats import BadRecord, read

    rows: list[dict] = []
    prompts: list[list[int]] = []
    where: list[int] = []  # index in rows of each prompt
    summary = BatchSummary()
    for item in read(in_path, strict=strict, prompts=True):
        if isinstance(item, BadRecord):
            rows.append({"source": item.where(), "error": item.reason})
            summary.errors.append(f"{item.where()}: {item.reason}")
            continue
        meta = item.meta or {}
        row = {"id": meta.get("id"), "source": f"{meta.get('source')}:{meta.get('line')}",
               "prompt": asked(item)}
        if item.turns[-1].role == "assistant":
            row["reference"] = item.output
        try:
            ids = target.prompt_ids(item)
            fit(len(ids), sampling, target.context)
        except (PromptTooLong, DataError) as e:
            if strict:
                raise TunesmithError(f"{row['source']}: {e.message}", e.hint) from None
            row["error"] = e.message
            summary.errors.append(f"{row['source']}: {e.message}")
            rows.append(row)
            continue
        where.append(len(rows))
        prompts.append(ids)
        rows.append(row)
    # max_new_tokens is cut for the longest prompt so every prompt of a batch fits the context.
    longest = max((len(p) for p in prompts), default=0)
    batch_sampling = fit(longest, sampling, target.context) if prompts else sampling
    answers = generate_batch(target.model, target.tokenizer, prompts, batch_sampling, target.stop_ids,
                             batch_size=batch_size, progress=progress)
    for i, answer in zip(where, answers):
        rows[i].update(answer=answer.text, finish_reason=answer.finish_reason, prompt_tokens=answer.prompt_tokens,
                       completion_tokens=answer.completion_tokens)
        summary.answered += 1
        summary.stopped_by_length += answer.finish_reason == "length"
    write_jsonl(out_path, rows)
    summary.written = len(rows)
    return summary


def asked(example) -> str:
    """The last user turn as the model sees it: its content, then the Alpaca `input` that goes with it."""
    users = [t for t in example.turns if t.role == "user"]
    return users[-1].text if users else ""


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
