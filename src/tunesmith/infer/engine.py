"""One model, many clients: requests queue up and a single worker thread generates for one at a time.

A model is not safe to call from several threads at once, and on one device answering two requests
in parallel is not faster anyway. Request handlers never hold a lock: they put a job on the queue and
read its pieces from an asyncio queue the worker fills. A client that disconnects sets the job's
cancel event, and the worker stops generating for it between two tokens; a full queue is refused
(503) instead of letting waits grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import AsyncIterator

from tunesmith.infer.generate import Completion, Generation, Sampling

log = logging.getLogger(__name__)


class Busy(Exception):
    """The queue is full."""


@dataclass
class Job:
    prompt_ids: list[int]
    sampling: Sampling
    loop: asyncio.AbstractEventLoop
    constraint: object | None = None       # a JsonConstraint the answer must satisfy
    logprobs: int | None = None            # alternatives per token to report; None = no logprobs
    cancel: threading.Event = field(default_factory=threading.Event)
    events: asyncio.Queue = field(default_factory=asyncio.Queue)
    completion: Completion | None = None

    def post(self, kind: str, value) -> None:
        """Called from the worker thread."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    async def pieces(self) -> AsyncIterator[str]:
        """The answer's text pieces; afterwards `self.completion` is set. Errors in generation are raised here."""
        try:
            async for text, _ in self.chunks():
                yield text
        finally:
            self.cancel.set()  # an abandoned outer generator may leave the inner one to the collector

    async def chunks(self) -> AsyncIterator[tuple[str, list]]:
        """Like `pieces`, each with the logprobs of the tokens it completes (empty without logprobs)."""
        try:
            while True:
                kind, value = await self.events.get()
                if kind == "piece":
                    yield value
                elif kind == "done":
                    self.completion = value
                    return
                else:
                    raise value
        finally:
            self.cancel.set()  # finished, failed or abandoned: the worker may drop it


class Engine:
    def __init__(self, model, tokenizer, stop_ids: list[int], max_queue: int = 64):
        self.model, self.tokenizer, self.stop_ids = model, tokenizer, stop_ids
        self.jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self.thread = threading.Thread(target=self._work, daemon=True, name="tunesmith-engine")
        self.served = 0
        self.thread.start()

    def submit(self, prompt_ids: list[int], sampling: Sampling, constraint=None, logprobs: int | None = None) -> Job:
        job = Job(list(prompt_ids), sampling, asyncio.get_running_loop(), constraint, logprobs)
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise Busy from None
        return job

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=30)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            if job.cancel.is_set():
                continue  # its client left while it waited
            try:
                generation = Generation(self.model, self.tokenizer, job.prompt_ids, job.sampling, self.stop_ids,
                                        cancel=job.cancel, constraint=job.constraint, logprobs=job.logprobs)
                for piece in generation:
                    job.post("piece", (piece, generation.take_logprobs()))
                if rest := generation.take_logprobs():  # tokens whose text was already out, or held back
                    job.post("piece", ("", rest))
                job.post("done", generation.completion)
                self.served += 1
            except Exception as e:  # the server answers 500 for this request and goes on serving
                log.exception("generation failed")
                job.post("error", e)
