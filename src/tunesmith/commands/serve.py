"""`tunesmith serve RUN`: an OpenAI-compatible HTTP server for a tuned run or a model."""

from __future__ import annotations

import argparse
import os

from tunesmith.commands.chat import add_target_args

EPILOG = """\
examples:
  tunesmith serve runs/my-run                          http://127.0.0.1:8000/v1
  tunesmith serve runs/my-run --host 0.0.0.0 --port 8080 --api-key-env TUNESMITH_API_KEY
  tunesmith serve runs/my-run --cors-origin http://localhost:3000     a web page on that origin may call it

then, from any OpenAI client:
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused-unless-set")
  client.chat.completions.create(model="my-run", messages=[{"role": "user", "content": "Hi"}], stream=True)

Endpoints: POST /v1/chat/completions (messages, rendered with the run's template; stream or not;
logprobs and top_logprobs; response_format json_object or json_schema, decoded under a grammar so the
answer is valid JSON), POST /v1/completions (raw text, no template; logprobs), GET /v1/models,
GET /v1/models/NAME, GET /health. The model name is the run folder's name. Requests are answered one
at a time in arrival order; bad requests get a 4xx with the field named. Not supported: tools
(function calling), n > 1, presence/frequency penalties. Extensions: top_k, repetition_penalty.
"""


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve a run or model over an OpenAI-compatible HTTP API", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Serve a tuned run (or any model) with OpenAI's chat and completions API.")
    add_target_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                                                       "0.0.0.0 for all interfaces)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--api-key-env", metavar="VAR",
                   help="require 'Authorization: Bearer KEY' where KEY is this environment variable's value "
                        "(kept out of the command line, where other users could read it)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="let web pages from this origin (e.g. http://localhost:3000) call the server from a "
                        "browser; repeat for several (default: none, browsers are refused)")
    p.add_argument("--max-tokens", type=int, default=512,
                   help="answer length when a chat request sets no max_tokens (default 512)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.errors import TunesmithError
    from tunesmith.infer.server import bind, serve
    from tunesmith.infer.target import open_target

    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise TunesmithError(f"--api-key-env {args.api_key_env}: that environment variable is empty or unset",
                                 f"export {args.api_key_env}=some-secret before starting the server")
    bind(args.host, args.port).close()  # a busy port is reported before the model takes time to load
    target = open_target(args.target, template=args.template, dtype=args.dtype)
    serve(target, args.host, args.port, api_key=api_key, max_tokens=args.max_tokens,
          cors_origins=tuple(args.cors_origin), announce=lambda line: print(line, flush=True))
    return 0
