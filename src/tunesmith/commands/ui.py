"""`tunesmith ui [--host --port]`: the local web app (data report, run builder with live curves, chat)."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith ui                          # http://127.0.0.1:7860, paths relative to the current folder
  tunesmith ui --port 8080 --root ~/tuning --runs runs

Data: open a data file or a `data prepare` output folder, browse and search its records, see one
rendered with a template and tokenizer (trained tokens coloured, masked ones dimmed), and the prepare
report. Train: build a run config in a form validated as you type, with its memory estimate; launch
`tunesmith train` as a separate process, watch loss/eval curves, tokens/s and ETA; stop (Ctrl-C: a
checkpoint is saved) and resume. Chat: a run or a base model, streaming, tuned and base side by side.
Every action shows the CLI command that does the same. The server listens on localhost only unless
--host says otherwise: it runs commands and reads files as you. It prints a URL with a random token:
only a browser that opened it (or a script sending `Authorization: token T`) is let in, requests must
name this server in their Host header (no DNS rebinding), and paths in the page stay inside --root.
"""


def register(sub) -> None:
    p = sub.add_parser("ui", help="the web UI: data report, run builder with live curves, chat playground",
                       description="Serve the tunesmith web UI.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--root", default=".", help="folder that paths in the page are relative to (default: here)")
    p.add_argument("--runs", default="runs", help="folder of run folders, relative to --root (default: runs)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    import uvicorn

    from tunesmith.ui.app import create_app

    # Run configs name their model and data relative to where `train` ran, which is the root: chat and
    # resume load them from here too.
    os.chdir(os.path.expanduser(args.root))
    app = create_app(".", args.runs, host=args.host)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"tunesmith ui: http://{shown}:{args.port}/?token={app.state.token}  (root {app.state.root}; Ctrl-C stops the server, "
          "not the runs it started)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
