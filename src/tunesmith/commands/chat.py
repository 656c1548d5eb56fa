"""`tunesmith chat MODEL`: talk to a model, one-shot (--prompt) or interactively, streaming."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  tunesmith chat smollm2 --prompt "What is the capital of France?"
  tunesmith chat ./my-llama-folder --system "Answer in one sentence."
In the interactive session, /reset clears the history and /exit (or Ctrl-D) quits.
"""


def register(sub) -> None:
    p = sub.add_parser("chat", help="chat with a model (streaming)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Chat with an embedded model, a model folder, a .gguf file or a hub id.")
    p.add_argument("model", help="embedded name (smollm2), model folder, .gguf file, or hub id")
    p.add_argument("--prompt", help="ask one question, print the answer and exit")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--dtype", default="auto", help="auto, fp32, bf16 or fp16")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.config import ModelConfig, validate
    from tunesmith.infer.chat import ChatSession
    from tunesmith.infer.generate import Sampling
    from tunesmith.model.load import load

    cfg = validate(ModelConfig, {"path": args.model, "dtype": args.dtype}, "command line")
    model, tokenizer = load(cfg)
    model.eval()
    sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p)
    session = ChatSession(model, tokenizer, sampling, system=args.system)
    if args.prompt is not None:
        for piece in session.ask(args.prompt):
            print(piece, end="", flush=True)
        print()
        return 0
    return session.interactive(sys.stdin, sys.stdout)
