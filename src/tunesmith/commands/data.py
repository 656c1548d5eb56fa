"""`tunesmith data ACTION`: the data command group.

Each action lives in its own module `tunesmith.commands.data_<name>` with `register(data_sub)`,
where `data_sub` is the group's sub-subparsers object; add the name to DATA_COMMANDS to wire it in.
"""

from __future__ import annotations

import argparse
import importlib

# Modules tunesmith.commands.data_<name>, each adding one `tunesmith data <name>` action.
DATA_COMMANDS: tuple[str, ...] = (
    "convert",
    "synth",
    "prepare",
    "contamination",
)

EPILOG = """\
examples:
  tunesmith data convert raw.json clean.jsonl --to sharegpt
  tunesmith data <action> --help
"""


def register(sub) -> None:
    p = sub.add_parser("data", help="read, convert and prepare instruction data",
                       description="Instruction data: convert between formats, prepare (clean, filter, dedup), ...",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    for name in DATA_COMMANDS:
        importlib.import_module(f"tunesmith.commands.data_{name}").register(data_sub)
