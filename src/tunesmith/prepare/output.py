"""The last record stage writes the output file's lines itself, when the output is JSON Lines.

Otherwise every kept record is saved with its shard as an Example, read back and parsed in the main
process, checked and serialised there again: one process doing for every record what the workers can
do shard by shard. A final shard leaves instead:

    NNNNNN.output.jsonl       its kept records, already lines of the output file
    NNNNNN.rejected.jsonl     the steps' rejects (as every shard)
    NNNNNN.unwritable.jsonl   records the output format cannot hold (`write` rejects)
    NNNNNN.stats.json         the shard's stats, with `output`: lines written, their length
                              histogram, and a few texts for the report's language mix

and the main process joins the output pieces, in shard order, into the output file.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from tunesmith.records import formats
from tunesmith.prepare.stage import BatchResult, json_lines, unwritable_row, write_scratch
from tunesmith.io import atomic_path


@dataclass(frozen=True)
class DirectOutput:
    to: str          # record format of the output lines
    sample: int      # texts per shard kept for the report's language mix (0 when a language step ran)

    def save(self, folder: Path, index: int, batch: BatchResult) -> None:
        """Like `pipeline_work.save_shard`, with output lines instead of kept Examples; stats file last."""
        from tunesmith.prepare.report import KeptTally

        lines, unwritable, tally = [], [], KeptTally(self.sample)
        for example in batch.kept:
            reject = unwritable_row(example, self.to)
            if reject is not None:
                unwritable.append(reject)
                continue
            lines.append(formats.jsonl_line(example, self.to))
            tally.add(example)
        base = folder / f"{index:06d}"
        write_scratch(Path(f"{base}.output.jsonl"), "".join(lines))
        write_scratch(Path(f"{base}.rejected.jsonl"), json_lines(batch.rejected))
        write_scratch(Path(f"{base}.unwritable.jsonl"), json_lines(unwritable))
        stats = batch.to_json()
        stats["output"] = {"written": len(lines), **tally.to_json()}
        write_scratch(Path(f"{base}.stats.json"), json.dumps(stats, ensure_ascii=False))


def direct_output(cfg, last_stage_is_records: bool, has_language_step: bool) -> DirectOutput | None:
    """A DirectOutput when the last stage runs record steps and the output is a JSON Lines file. Checks
    first that the output file can hold the output format at all, so that a wrong pair fails now, not
    after the whole run."""
    kind = formats.check_output(cfg.output.path, cfg.output.format)
    if not last_stage_is_records or kind != "jsonl":
        return None
    from tunesmith.prepare.report import LANGUAGE_SAMPLE

    return DirectOutput(cfg.output.format, 0 if has_language_step else LANGUAGE_SAMPLE)


def gather(output: Path, folder: Path, shards: int, builder) -> tuple[int, list[dict]]:
    """Join the shards' output lines into `output` (atomically, flushed to disk); tell the report about
    them. Returns (records written, the `write` rejects in shard order)."""
    written, rejects = 0, []
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as out:
            for i in range(shards):
                base = folder / f"{i:06d}"
                stats = json.loads(Path(f"{base}.stats.json").read_text(encoding="utf-8"))["output"]
                with open(f"{base}.output.jsonl", "rb") as piece:
                    shutil.copyfileobj(piece, out)
                written += stats["written"]
                builder.kept.merge(stats)
                with open(f"{base}.unwritable.jsonl", encoding="utf-8") as f:
                    rejects += [json.loads(line) for line in f]
    return written, rejects
