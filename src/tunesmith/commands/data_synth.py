"""`tunesmith data synth DOCS... --out data.jsonl`: instruction records from raw documents, by an LLM."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

EPILOG = """\
examples:
  # any OpenAI-compatible endpoint (the key is read from $OPENAI_API_KEY)
  tunesmith data synth docs/ --out synth.jsonl --base-url https://api.openai.com/v1 --model gpt-4o-mini
  # a local `tunesmith serve` (or vLLM, llama.cpp server): the model name is asked from /v1/models
  tunesmith data synth notes.md manual.html --out qa.jsonl --base-url http://127.0.0.1:8000/v1 --answers
  # no server at all: a local model folder, embedded model or run folder
  tunesmith data synth 茶经.txt --out tea.jsonl --local smollm2 split.max_tokens=256
  # settings from a file, with dotted overrides; --print-config shows every key
  tunesmith data synth docs/ --out qa.jsonl --config synth.yaml backend.concurrency=16 prompts.language=zh

Documents: .txt .md .html .jsonl (one document per line, field text/content/body/passage), or folders
of them. Each passage gets one question ("请你为这段内容生成一个合理的问题" for Chinese passages); the
record is Alpaca {instruction: question, input, output} with meta `synth` naming the document, passage
index and character offsets. With answer=passage (the default) the passage is the output; --answers
asks for an answer grounded in the passage instead.

Retries with backoff on 429/5xx/timeouts/malformed replies; every answer is cached (SQLite), so an
interrupted run, or the same command again, asks only for what is missing. Questions that are empty,
copy the passage or are not questions go to OUT_STEM.rejects.jsonl with the reason; OUT_STEM.synth.json
has the counts (requests, retries, cache hits, tokens). Feed the output to `tunesmith data prepare`.
"""

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def register(data_sub) -> None:
    p = data_sub.add_parser("synth", help="build instruction records from raw documents with an LLM",
                            description="Split documents into passages and ask an LLM for a question (and "
                                        "optionally an answer) about each: Alpaca records out.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("items", nargs="*", metavar="DOCS|key=value",
                   help="documents or folders, and dotted config overrides (backend.concurrency=8)")
    p.add_argument("--out", "-o", help="output file (.jsonl, .json, .csv, .parquet) of Alpaca records")
    p.add_argument("--config", help="YAML file with the synth settings")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (backend.base_url)")
    p.add_argument("--model", help="model name at the endpoint (backend.model)")
    p.add_argument("--local", metavar="PATH", help="generate locally with a model folder, embedded name or run folder")
    p.add_argument("--answers", action="store_true", help="ask for answers grounded in the passage (answer=llm)")
    p.add_argument("--concurrency", type=int, help="requests in flight at once (backend.concurrency)")
    p.add_argument("--language", choices=("auto", "zh", "en"), help="prompt language (prompts.language)")
    p.add_argument("--cache", help="answers cache file (default $TUNESMITH_HOME/synth-cache.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable JSONL document line")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.config import load, to_yaml
    from tunesmith.synth.config import SynthConfig
    from tunesmith.errors import ConfigError

    docs, overrides = _split_items(args.items)
    cfg = load(SynthConfig, args.config, _flag_overrides(args) + overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    if not docs:
        raise ConfigError("no documents given", "name files or folders: tunesmith data synth docs/ --out qa.jsonl")
    if not args.out:
        raise ConfigError("--out is missing", "name the output file, e.g. --out synth.jsonl")

    from tunesmith.synth.run import synthesize

    result = synthesize(docs, args.out, cfg, progress=not args.no_progress)
    u = result.usage
    print(f"{result.out}: {result.records} records from {result.passages} passages of {result.documents} documents")
    if result.drops:
        reasons = ", ".join(f"{k} {v}" for k, v in result.drops.most_common())
        print(f"{result.rejected_path}: {result.rejected} rejected ({reasons})")
    for line in result.read.bad_lines[:5]:
        print(f"skipped {line}", file=sys.stderr)
    retry_why = ", ".join(f"{k} {v}" for k, v in u.retry_reasons.most_common())
    print(f"requests {u.requests}, retries {u.retries}{f' ({retry_why})' if retry_why else ''}, "
          f"cache hits {u.cache_hits}, tokens {u.prompt_tokens} in + {u.completion_tokens} out; "
          f"report: {result.report_path}")
    if result.failed:
        print(f"error: {result.failed} passages failed after every retry"
              + (f" and {result.not_attempted} were not attempted" if result.not_attempted else "")
              + "; run the same command again: finished passages come from the cache", file=sys.stderr)
        return 1
    return 0


def _split_items(items: list[str]) -> tuple[list[str], list[str]]:
    """Dotted `key=value` items are overrides unless a file by that name exists."""
    docs, overrides = [], []
    for item in items:
        (overrides if _OVERRIDE.match(item) and not Path(item).exists() else docs).append(item)
    return docs, overrides


def _flag_overrides(args) -> list[str]:
    """The convenience flags, as overrides applied after --config and before dotted items."""
    import json

    pairs = []
    if args.base_url:
        pairs.append(("backend.base_url", args.base_url))
    if args.model:
        pairs.append(("backend.model", args.model))
    if args.local:
        pairs += [("backend.kind", "local"), ("backend.path", args.local)]
    if args.answers:
        pairs.append(("answer", "llm"))
    if args.concurrency is not None:
        pairs.append(("backend.concurrency", args.concurrency))
    if args.language:
        pairs.append(("prompts.language", args.language))
    if args.no_cache:
        pairs.append(("cache", "off"))
    elif args.cache:
        pairs.append(("cache", args.cache))
    if args.strict:
        pairs.append(("strict", True))
    # JSON-quoted strings stay strings through the YAML parsing of overrides (a model named "1.5").
    return [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in pairs]
