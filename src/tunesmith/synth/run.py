"""`data synth` end to end: documents -> passages -> questions (and answers) -> Alpaca records.

Every passage ends up in exactly one place: the output (a record), the rejects file (a question or
answer a check dropped, or a passage the LLM failed on after every retry, each with its reason), or
- for a run stopped early - the report's count of passages not attempted. Answers are cached as they
arrive, so stopping at any point (Ctrl-C, a kill, a crash, an endpoint that went down) loses nothing:
the same command again asks only for what is missing. The output is written once, atomically, in
document and passage order whatever the concurrency.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tunesmith.records.example import Example
from tunesmith.prepare.steps.base import Drop
from tunesmith.llm.cache import Cache, CachedBackend
from tunesmith.synth.checks import AnswerCheck, QuestionCheck, clean_answer, clean_question
from tunesmith.llm.client import OpenAIClient, RetriesExhausted, api_key_from
from tunesmith.synth.config import SynthConfig
from tunesmith.synth.documents import Document, ReadReport, read_documents
from tunesmith.synth.prompts import Prompts
from tunesmith.synth.split import Passage, estimate_tokens, split
from tunesmith.llm.usage import Usage
from tunesmith.io import atomic_write_text
from tunesmith.errors import DataError


@dataclass
class SynthResult:
    out: Path
    rejected_path: Path
    report_path: Path
    documents: int = 0
    passages: int = 0
    records: int = 0
    rejected: int = 0
    failed: int = 0
    not_attempted: int = 0
    drops: Counter = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)
    read: ReadReport = field(default_factory=ReadReport)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "rejected_file": str(self.rejected_path), "documents": self.documents,
                "passages": self.passages, "records": self.records, "rejected": self.rejected,
                "failed": self.failed, "not_attempted": self.not_attempted, "drops": dict(self.drops),
                "usage": self.usage.to_dict(), "bad_lines": self.read.bad_lines}


@dataclass
class _Outcome:
    example: Example
    drop: Drop | None = None
    step: str = ""


def synthesize(docs: list[str | Path], out: str | Path, cfg: SynthConfig, progress: bool = True) -> SynthResult:
    out = Path(out)
    # Settings a user can get wrong are checked before any model is loaded or endpoint asked.
    prompts = Prompts(cfg.prompts.language, cfg.prompts.question, cfg.prompts.answer, cfg.prompts.system)
    result = SynthResult(out, out.with_name(f"{out.stem}.rejects.jsonl"), out.with_name(f"{out.stem}.synth.json"))
    documents = list(read_documents(docs, cfg.text_field, cfg.strict, result.read))
    result.documents = len(documents)
    backend = make_backend(cfg, result.usage)
    try:
        count = token_counter(cfg, backend)
        jobs = [(doc, p) for doc in documents
                for p in split(doc.text, cfg.split.max_tokens, cfg.split.overlap_tokens, cfg.split.min_tokens, count)]
        result.passages = len(jobs)
        if not jobs:
            raise DataError(f"no passages of at least {cfg.split.min_tokens} tokens in {len(documents)} document(s)",
                            "check the inputs, or lower split.min_tokens")
        cache = open_cache(cfg.cache)
        try:
            outcomes = _run(jobs, CachedBackend(backend, cache, result.usage), cfg, prompts, result, progress)
        finally:
            if cache is not None:
                cache.close()
    finally:
        backend.close()
    _write(outcomes, result)
    return result


def make_backend(cfg: SynthConfig, usage: Usage):
    b = cfg.backend
    if b.kind == "local":
        from tunesmith.synth.local import LocalBackend

        return LocalBackend(b.path, usage, temperature=b.temperature, max_tokens=b.max_tokens, dtype=b.dtype,
                            template=b.template)
    return OpenAIClient(b.base_url, b.model, usage, api_key=api_key_from(b.api_key_env), temperature=b.temperature,
                        max_tokens=b.max_tokens, timeout=b.timeout, max_retries=b.max_retries, backoff=b.backoff,
                        max_backoff=b.max_backoff, concurrency=b.concurrency)


def token_counter(cfg: SynthConfig, backend) -> Callable[[str], int]:
    choice = cfg.split.tokenizer
    tokenizer = None
    if choice == "auto":
        tokenizer = getattr(backend, "tokenizer", None)
    elif choice != "estimate":
        from tunesmith.config import ModelConfig, validate
        from tunesmith.model.load import load_tokenizer

        tokenizer = load_tokenizer(validate(ModelConfig, {"path": choice}, "split.tokenizer"))
    if tokenizer is None:
        return estimate_tokens
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def open_cache(setting: str | None) -> Cache | None:
    if setting == "off":
        return None
    if setting is None:
        from tunesmith.paths import home

        return Cache(home() / "synth-cache.sqlite")
    return Cache(setting)


def _run(jobs: list[tuple[Document, Passage]], llm: CachedBackend, cfg: SynthConfig, prompts: Prompts,
         result: SynthResult, progress: bool) -> list[_Outcome | None]:
    """Ask for every passage with `concurrency` daemon workers (so a Ctrl-C or a fatal error never
    waits on a hung request), collecting outcomes in passage order."""
    from tqdm import tqdm

    checks = (QuestionCheck(cfg.max_question_chars), AnswerCheck())
    check_lock = threading.Lock()
    todo: queue.Queue = queue.Queue()
    for n in range(len(jobs)):
        todo.put(n)
    done: queue.Queue = queue.Queue()
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            try:
                n = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((n, _ask(llm, cfg, prompts, checks, check_lock, *jobs[n]), None))
            except BaseException as e:  # handed to the main thread, which decides
                done.put((n, None, e))

    workers = 1 if cfg.backend.kind == "local" else cfg.backend.concurrency
    for _ in range(min(workers, len(jobs))):
        threading.Thread(target=worker, daemon=True).start()

    outcomes: list[_Outcome | None] = [None] * len(jobs)
    finished = kept = 0
    bar = tqdm(total=len(jobs), unit="passage", desc="synth", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)
    try:
        while finished < len(jobs):
            n, outcome, error = done.get()
            finished += 1
            if isinstance(error, RetriesExhausted):
                result.failed += 1
                result.usage.add(failures=1)
                doc, passage = jobs[n]
                outcomes[n] = _Outcome(_record(doc, passage, "", "", cfg, llm.model_id),
                                       Drop("llm_failed", str(error)), "synth-llm")
                if result.failed >= cfg.stop_after_failures:
                    stop.set()
                    break
            elif error is not None:
                stop.set()
                raise error
            else:
                outcomes[n] = outcome
                kept += outcome.drop is None
            bar.update(1)
            bar.set_postfix({**result.usage.postfix(), "kept": kept}, refresh=False)  # dict: keeps the order
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        bar.close()
    result.not_attempted = sum(1 for o in outcomes if o is None)
    return outcomes


def _ask(llm, cfg: SynthConfig, prompts: Prompts, checks, lock, doc: Document, passage: Passage) -> _Outcome:
    question_check, answer_check = checks
    reply = llm.complete(prompts.question_messages(passage.text))
    question = clean_question(reply.text)
    output = passage.text if cfg.answer == "passage" else ""
    example = _record(doc, passage, question, output, cfg, llm.model_id)
    example.meta["synth"]["language"] = prompts.language_of(passage.text)
    with lock:
        verdict = question_check(example)
    if isinstance(verdict, Drop):
        return _Outcome(example, verdict, question_check.name)
    if cfg.answer == "llm":
        answer = llm.complete(prompts.answer_messages(passage.text, question))
        example.turns[-1].content = clean_answer(answer.text)
        with lock:
            verdict = answer_check(example)
        if isinstance(verdict, Drop):
            return _Outcome(example, verdict, answer_check.name)
    return _Outcome(example)


def _record(doc: Document, passage: Passage, question: str, output: str, cfg: SynthConfig, model: str) -> Example:
    # The id names the document as given (two folders may both hold an index.md) and the passage.
    where = doc.source + (f":{doc.line}" if doc.line is not None else "")
    synth = {"document": doc.source, **({"line": doc.line} if doc.line is not None else {}),
             **({"document_fields": doc.meta} if doc.meta else {}),   # a JSONL document's id, title, url ...
             "passage_index": passage.index, "char_start": passage.start, "char_end": passage.end,
             "passage": passage.text, "model": model}
    return Example.single(question, output, input=passage.text if cfg.passage_as_input else None,
                          id=f"{where}#{passage.index}", synth=synth)


def _write(outcomes: list[_Outcome | None], result: SynthResult) -> None:
    from tunesmith.records.formats import files, write
    from tunesmith.records.formats.records import unwritable

    kept, rejected = [], []
    for o in outcomes:
        if o is None:
            continue
        why = None if o.drop else unwritable(o.example, "alpaca")
        if o.drop is None and why is None:
            kept.append(o.example)
            continue
        drop = o.drop or Drop("unwritable", why)
        result.drops[drop.reason] += 1
        rejected.append({"step": o.step or "write", "reason": drop.reason, "detail": drop.detail,
                         "record": o.example.to_dict()})
    result.records = write(kept, result.out, to="alpaca")
    result.rejected = files.write_rows(rejected, result.rejected_path, "jsonl")
    atomic_write_text(result.report_path, json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")


