"""The Chat tab's API: a run folder or a base model, answers streamed as server-sent events, and the
same prompt answered by the tuned model and its base side by side.

Models are opened with `tunesmith.infer.target.open_target` (a run renders with the template it was
trained with) and answered by `infer.generate.Generation`, as `tunesmith chat` does. A client that
goes away cancels its generation between two tokens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import threading
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from tunesmith.errors import TunesmithError
from tunesmith.ui.cache import Lru
from tunesmith.ui.errors import FieldError, blame, payload
from tunesmith.ui.paths import name_or_path

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/chat")
_targets = Lru(2)                     # loaded models: a run and a base fit on most machines
_locks: dict[str, asyncio.Lock] = {}  # one answer at a time per model (base/tuned switch the adapter off and on)
_END = object()


class ChatRequest(BaseModel):
    target: str
    template: str = ""                # plain models only; a run always uses its own
    system: str = ""
    messages: list[dict]
    compare: bool = False             # also answer with the base model (run folders only)
    max_new_tokens: int = Field(128, gt=0, le=8192)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int | None = None


@router.get("/targets")
def targets(request: Request) -> dict:
    from tunesmith.model import catalog

    jobs = request.app.state.jobs
    runs = [jobs.summary(p) for p in jobs.runs(request.app.state.runs_dir)]
    return {"runs": [r for r in runs if r["status"] == "finished"], "embedded": list(catalog.EMBEDDED)}


def _open(root: Path, spec: str, template: str):
    from tunesmith.infer.target import open_target
    from tunesmith.runs.folder import is_run

    if not spec.strip():
        raise FieldError("target", "choose a run folder or a model")
    where = name_or_path(root, spec, "target")
    field = "template" if template and not is_run(where) else "target"
    with blame(field):
        try:
            return _targets.get_or_make((where, template or None),
                                        lambda: open_target(where, template=None if is_run(where) else
                                                            (template or None)))
        except TunesmithError as e:
            if "template" in e.message and field == "target" and not is_run(where):
                raise FieldError("template", e.message, e.hint or "choose a template such as llama2") from None
            raise


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/stream")
async def stream(request: Request, body: ChatRequest) -> StreamingResponse:
    return StreamingResponse(_answers(request, body), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _answers(request: Request, body: ChatRequest):
    try:
        target = await run_in_threadpool(_open, request.app.state.root, body.target, body.template)
        example = _example(body, target)
        if body.compare and target.run is None:
            raise FieldError("compare", f"{body.target} is a plain model: there is no base to compare with",
                             "choose a run folder to compare the tuned model with its base")
        ids = target.prompt_ids(example)
        yield _event("start", {"prompt_tokens": len(ids), "template": target.template.name,
                               "command": chat_command(body, target.run is not None)})
        lock = _locks.setdefault(str(id(target)), asyncio.Lock())
        async with lock:
            async for event in _side(request, "tuned" if target.run is not None else "model", target, target.model,
                                     ids, body):
                yield event
            if body.compare:
                base = target.base()
                model = await run_in_threadpool(base.__enter__)
                try:
                    async for event in _side(request, "base", target, model, ids, body):
                        yield event
                finally:
                    base.__exit__(None, None, None)
    except TunesmithError as e:
        yield _event("error", payload(e))
    except Exception as e:  # a bug: say so in the page; the server goes on
        log.exception("chat stream failed")
        yield _event("error", {"error": f"internal error: {type(e).__name__}: {e}", "hint": "see the server log"})


def _example(body: ChatRequest, target):
    from tunesmith.infer.target import messages_to_example

    messages = ([{"role": "system", "content": body.system}] if body.system.strip() else []) + body.messages
    with blame("messages"):
        return messages_to_example(messages, target.system)


async def _side(request: Request, side: str, target, model, ids: list[int], body: ChatRequest):
    from tunesmith.infer.generate import Generation, Sampling, fit

    sampling = fit(len(ids), Sampling(max_new_tokens=body.max_new_tokens, temperature=body.temperature,
                                      top_p=body.top_p, seed=body.seed), target.context)
    cancel = threading.Event()
    generation = Generation(model, target.tokenizer, ids, sampling, target.stop_ids, cancel)
    pieces = iter(generation)
    start = time.perf_counter()
    try:
        while True:
            piece = await run_in_threadpool(next, pieces, _END)
            if piece is _END:
                break
            yield _event("piece", {"side": side, "text": piece})
            if await request.is_disconnected():
                return
    finally:
        cancel.set()
        try:
            pieces.close()  # joins the generating thread, which the cancel has stopped
        except ValueError:  # still inside next() in a worker thread: the cancel ends it there
            pass
    c = generation.completion
    seconds = time.perf_counter() - start
    yield _event("done", {"side": side, "finish_reason": c.finish_reason, "completion_tokens": c.completion_tokens,
                          "prompt_tokens": c.prompt_tokens, "seconds": round(seconds, 3),
                          "tokens_per_s": round(c.completion_tokens / seconds, 1) if seconds > 0 else None,
                          "text": c.text})


def chat_command(body: ChatRequest, is_run: bool) -> str:
    """The `tunesmith chat` line that asks the same (tests/test_ui_chat_command.py parses it with the CLI)."""
    question = next((m["content"] for m in reversed(body.messages) if m.get("role") == "user"), "")
    parts = ["tunesmith", "chat", body.target, "--prompt", question]
    if body.system.strip():
        parts += ["--system", body.system]
    if body.template and not is_run:
        parts += ["--template", body.template]
    parts += ["--max-new-tokens", str(body.max_new_tokens)]
    if body.temperature:
        parts += ["--temperature", str(body.temperature)]
    return shlex.join(parts)
