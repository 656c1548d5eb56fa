"""`tunesmith chat RUN|MODEL`: talk to a fine-tuned run or a model, one-shot (--prompt) or interactively."""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  tunesmith chat runs/my-run                      the tuned model, with the template it was trained with
  tunesmith chat runs/my-run --prompt "你好" --temperature 0.7 --seed 1
  tunesmith chat smollm2 --prompt "What is the capital of France?"
  tunesmith chat ./llama-2-7b-hf --template llama2 --system "Answer in one sentence."

A run folder is always prompted with its own template (config.yaml); a plain model uses its
tokenizer's chat template (auto) unless --template names one.
In the interactive session: /reset clears the history, /system TEXT sets the system prompt,
/exit (or Ctrl-D) quits.
"""


def add_sampling_args(p: argparse.ArgumentParser, max_new_tokens: int = 256) -> None:
    g = p.add_argument_group("decoding")
    g.add_argument("--max-new-tokens", type=int, default=max_new_tokens, help=f"answer length cap (default {max_new_tokens})")
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); 0.7 is a usual sampled value")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: keep the smallest set of tokens "
                                                            "with this much probability (sampling only)")
    g.add_argument("--top-k", type=int, default=0, help="sample only among the k likeliest tokens (0 = off)")
    g.add_argument("--repetition-penalty", type=float, default=1.0, help=">1 discourages repeating tokens (1.1 is mild)")
    g.add_argument("--seed", type=int, help="fix the random draws of sampled answers")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help="end the answer before this text (repeatable)")


def add_target_args(p: argparse.ArgumentParser) -> None:
    from tunesmith.text.templates import TEMPLATE_NAMES

    p.add_argument("target", metavar="RUN_OR_MODEL",
                   help="a run folder (config.yaml + adapter/ or model/), an embedded name (smollm2), a model folder, "
                        "a .gguf file or a hub id")
    p.add_argument("--template", choices=TEMPLATE_NAMES,
                   help="override the prompt template (a run's own is the right one; this is for plain models)")
    p.add_argument("--dtype", help="plain models: auto, fp32, bf16 or fp16 (a run uses its config)")


def sampling_from(args):
    from tunesmith.infer.generate import Sampling

    if args.max_new_tokens < 1:
        from tunesmith.errors import TunesmithError

        raise TunesmithError("--max-new-tokens must be at least 1")
    return Sampling(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                    top_k=args.top_k, repetition_penalty=args.repetition_penalty, seed=args.seed,
                    stop=tuple(args.stop))


def register(sub) -> None:
    p = sub.add_parser("chat", help="chat with a tuned run or a model (streaming)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Chat with a fine-tuned run folder or any model, streaming the answers.")
    add_target_args(p)
    p.add_argument("--prompt", help="ask one question, print the answer and exit")
    p.add_argument("--system", help="system prompt (default: the run's template.system, if any)")
    add_sampling_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.infer.target import open_target

    target = open_target(args.target, template=args.template, dtype=args.dtype)  # a bad name fails before torch loads
    from tunesmith.infer.chat import ChatSession

    session = ChatSession(target, sampling_from(args), system=args.system)
    if args.prompt is not None:
        for piece in session.ask(args.prompt):
            print(piece, end="", flush=True)
        print()
        return 0
    return session.interactive(sys.stdin, sys.stdout)
