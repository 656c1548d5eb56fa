"""The `tunesmith` command: subcommands only, each defined in `tunesmith.commands.<name>`.

Errors a user can fix (`TunesmithError`) print as one line with a hint and exit 2; anything else is
a bug and shows its traceback under `--debug`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from tunesmith import __version__
from tunesmith.errors import TunesmithError
from tunesmith.model import loading

# Each module registers one top-level command (or a group of them) with `register(subparsers)`.
COMMANDS = (
    "models",
    "chat",
    "generate",
    "eval",
    "serve",
    "merge",
    "export",
    "data",
    "inspect",
    "train",
    "estimate",
    "ui",
)

DESCRIPTION = """\
tunesmith: instruction fine-tuning of Llama-family models.

  prepare the data   tunesmith data prepare pipeline.yaml
  fine-tune          tunesmith train run.yaml train.lr=2e-4
  use the result     tunesmith chat runs/my-run

Every command that takes a YAML config also takes dotted overrides (key.sub=value), before,
between or after the options, and --print-config, which shows the resolved config with a comment
on every key.
"""


class IntermixedParser(argparse.ArgumentParser):
    """A command's positionals may come before, between or after its options
    (`train run.yaml --print-config train.lr=2e-4`): plain argparse fills `config` and `overrides`
    from the first run of positionals and refuses the ones after an option as unrecognized."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):
        if self._inside:  # parse_known_intermixed_args calls back into this method
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def _takes_overrides(parser: argparse.ArgumentParser) -> bool:
    return any(a.dest in ("overrides", "items") and not a.option_strings and a.nargs == "*"
               for a in parser._actions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tunesmith", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"tunesmith.commands.{name}").register(sub)
    _intermix(sub)
    return parser


def _intermix(sub: argparse._SubParsersAction) -> None:
    """Every (nested) command with a KEY=VALUE positional parses its arguments intermixed."""
    for parser in sub.choices.values():
        if _takes_overrides(parser):
            parser.__class__ = IntermixedParser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _intermix(action)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not debug:
        _quiet_libraries()
    loading.show_on_stderr(debug)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        result = args.func(args)
        return int(result or 0)
    except TunesmithError as e:
        if debug:
            raise
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"  hint: {e.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the ends a user can fix and rerun from: a full disk, a killed worker
        message = None if debug else _interrupted_by_the_machine(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        print("  hint: rerun the same command: finished work is kept (`train ... --resume` continues from the "
              "last checkpoint, `data prepare` from its finished shards)", file=sys.stderr)
        return 2


def _interrupted_by_the_machine(e: BaseException) -> str | None:
    """What happened, for a disk-full or killed-worker end; None for anything else (a bug: a traceback)."""
    import errno
    from concurrent.futures.process import BrokenProcessPool

    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {e.filename}" if e.filename else ""
        return f"the disk is full{where} ({e.strerror}); free some space"
    if isinstance(e, BrokenProcessPool):
        return ("a worker process died (killed by a signal, often the kernel's out-of-memory killer); "
                "lower `workers` or give the machine more memory")
    return None


def _quiet_libraries() -> None:
    # Deprecation notices from transformers/peft are for us, not for users; --debug shows them.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # By environment, read when transformers is first imported: importing it here would cost every
    # command, `data prepare --help` included, seconds it may never need.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' weight-loading bars follow it
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # bitsandbytes (imported by peft) warns on every CPU start that an optional hub kernel is missing.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    if "transformers" in sys.modules:  # already imported (tunesmith used as a library): too late for the environment
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


if __name__ == "__main__":
    raise SystemExit(main())
