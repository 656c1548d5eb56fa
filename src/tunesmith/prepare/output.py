"""The last record stage writes the output file's lines itself, when the output is JSON Lines.

Otherwise every kept record is saved with its shard as an Example, read back and parsed in the main
process, checked and serialised there again: one process doing for every record what the workers can
do shard by shard. A final shard leaves instead:

    NNNNNN.output.jsonl       its kept records, already lines of the output file
    NNNNNN.rejected.jsonl     the steps' rejects (as every shard)
    NNNNNN.unwritable.jsonl   records the output format cannot hold (`write` rejects)
    NNNNNN.stats.json         the shard's stats, with `output`: lines written, their length
                              histogram, and a few texts for the report's language mix

(`work.Shard.save` with a SavePlan that names a DirectOutput), and the main process joins the output
pieces, in shard order, into the output file.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from tunesmith.io import atomic_path
from tunesmith.prepare.stage import unwritable_row
from tunesmith.records import formats


@dataclass(frozen=True)
class DirectOutput:
    to: str          # record format of the output lines
    sample: int      # texts per shard kept for the report's language mix (0 when a language step ran)

    def lines(self, kept: list) -> tuple[list[str], list[dict], dict]:
        """(output lines, `write` rejects, the shard's `output` stats) for a shard's kept records."""
        from tunesmith.prepare.report import KeptTally

        lines, unwritable, tally = [], [], KeptTally(self.sample)
        for example in kept:
            reject = unwritable_row(example, self.to)
            if reject is not None:
                unwritable.append(reject)
                continue
            lines.append(formats.jsonl_line(example, self.to))
            tally.add(example)
        return lines, unwritable, {"written": len(lines), **tally.to_json()}


def direct_output(cfg, last_stage_is_records: bool, has_language_step: bool) -> DirectOutput | None:
    """A DirectOutput when the last stage runs record steps and the output is a JSON Lines file. Checks
    first that the output file can hold the output format at all, so that a wrong pair fails now, not
    after the whole run."""
    kind = formats.check_output(cfg.output.path, cfg.output.format)
    if not last_stage_is_records or kind != "jsonl":
        return None
    from tunesmith.prepare.report import LANGUAGE_SAMPLE

    return DirectOutput(cfg.output.format, 0 if has_language_step else LANGUAGE_SAMPLE)


def gather(output: Path, shards: list, builder) -> tuple[int, list[dict]]:
    """Join the last stage's `shards`' output lines into `output` (atomically, flushed to disk); tell the
    report about them. Returns (records written, the `write` rejects in shard order)."""
    written, rejects = 0, []
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as out:
            for shard in shards:
                stats = shard.stats()["output"]
                with open(shard.path("output.jsonl"), "rb") as piece:
                    shutil.copyfileobj(piece, out)
                written += stats["written"]
                builder.kept.merge(stats)
                with open(shard.path("unwritable.jsonl"), encoding="utf-8") as f:
                    rejects += [json.loads(line) for line in f]
    return written, rejects
