"""An OpenAI-compatible HTTP server for a run folder or a model: any OpenAI client can talk to it.

    POST /v1/chat/completions   messages -> answer (stream: server-sent events, like OpenAI)
    POST /v1/completions        raw prompt text -> continuation (no chat template)
    GET  /v1/models             the one model served
    GET  /health                liveness, without the API key

Chat prompts are rendered with the run's template (the training code path). Bad requests get a 4xx
with OpenAI's error shape and a message that names the field; an error inside generation is a 500 for
that request only. With an API key set, /v1/* needs `Authorization: Bearer KEY`.
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
import uuid
from contextlib import asynccontextmanager

from tunesmith.errors import TunesmithError
from tunesmith.infer.engine import Busy, Engine
from tunesmith.infer.generate import PromptTooLong, Sampling, fit
from tunesmith.infer.openai_schema import ChatRequest, CompletionRequest
from tunesmith.infer.target import Target, messages_to_example
from tunesmith.text.spm import encode_prompt

COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def create_app(target: Target, *, api_key: str | None = None, max_tokens: int = 512, max_queue: int = 64):
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    engine = Engine(target.model, target.tokenizer, target.stop_ids, max_queue=max_queue)

    @asynccontextmanager
    async def lifespan(app):
        yield
        engine.close()

    app = FastAPI(title="tunesmith", description=f"OpenAI-compatible server for {target.name}", lifespan=lifespan)
    app.state.engine = engine
    created = int(time.time())

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        if first.get("type") == "json_invalid":
            message = f"the request body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})"
        else:
            message = (f"{'.'.join(loc)}: " if loc else "") + first["msg"].removeprefix("Value error, ")
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        return JSONResponse(ApiError(400, message, ".".join(loc) or None).body(), status_code=400)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if api_key and request.url.path.startswith("/v1/"):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                err = ApiError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'",
                               code="invalid_api_key")
                return JSONResponse(err.body(), status_code=401)
        return await call_next(request)

    @app.get("/health")
    def health():
        return {"status": "ok", "model": target.name, "served": engine.served}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": target.name, "object": "model", "created": created,
                                            "owned_by": "tunesmith"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest):
        _check_model(body.model, target)
        try:
            example = messages_to_example([{"role": m.role, "content": m.text()} for m in body.messages],
                                          target.system)
            prompt = target.prompt_ids(example)
        except TunesmithError as e:
            raise ApiError(400, e.message, "messages") from None
        job, sampling = _submit(engine, target, prompt, body, body.limit() or max_tokens)
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_chat_events(job, rid, target.name, usage), media_type="text/event-stream")
        text = await _collect(job)
        c = job.completion
        return {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": target.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": c.finish_reason, "logprobs": None}],
                "usage": _usage(c)}

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest):
        _check_model(body.model, target)
        prompt = encode_prompt(target.tokenizer, body.prompt)
        job, _ = _submit(engine, target, prompt, body, body.limit() or COMPLETIONS_DEFAULT_MAX_TOKENS)
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_completion_events(job, rid, target.name, usage), media_type="text/event-stream")
        text = await _collect(job)
        c = job.completion
        return {"id": rid, "object": "text_completion", "created": int(time.time()), "model": target.name,
                "choices": [{"index": 0, "text": text, "finish_reason": c.finish_reason, "logprobs": None}],
                "usage": _usage(c)}

    return app


def _check_model(name: str, target: Target) -> None:
    if name != target.name:
        raise ApiError(404, f"the model '{name}' does not exist here; this server serves '{target.name}' "
                            "(GET /v1/models)", "model", "model_not_found")


def _submit(engine: Engine, target: Target, prompt: list[int], body, limit: int):
    sampling = Sampling(max_new_tokens=limit, temperature=body.temperature, top_p=body.top_p, top_k=body.top_k,
                        repetition_penalty=body.repetition_penalty, seed=body.seed, stop=tuple(body.stop or ()))
    try:
        sampling = fit(len(prompt), sampling, target.context)
    except PromptTooLong as e:
        raise ApiError(400, f"{e.message}; shorten the messages", "messages", "context_length_exceeded") from None
    try:
        return engine.submit(prompt, sampling), sampling
    except Busy:
        raise ApiError(503, "the server is busy: too many requests are waiting; retry later",
                       type="server_error", code="overloaded") from None


async def _collect(job) -> str:
    try:
        return "".join([piece async for piece in job.pieces()])
    except Exception as e:  # generation failed: this request only
        raise ApiError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error") from None


def _usage(c) -> dict:
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens}


def _sse(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _chat_events(job, rid: str, model: str, include_usage: bool):
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None) -> str:
        return _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})

    yield chunk({"role": "assistant", "content": ""})
    async for event in _events(job):
        if isinstance(event, str):
            yield chunk({"content": event})
        elif isinstance(event, ApiError):
            yield _sse(event.body())
            break
        else:
            yield chunk({}, event.finish_reason)
            if include_usage:
                yield _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [], "usage": _usage(event)})
    yield "data: [DONE]\n\n"


async def _completion_events(job, rid: str, model: str, include_usage: bool):
    created = int(time.time())

    def chunk(text: str, finish: str | None = None, **extra) -> str:
        return _sse({"id": rid, "object": "text_completion", "created": created, "model": model,
                     "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}], **extra})

    async for event in _events(job):
        if isinstance(event, str):
            yield chunk(event)
        elif isinstance(event, ApiError):
            yield _sse(event.body())
            break
        else:
            yield chunk("", event.finish_reason, **({"usage": _usage(event)} if include_usage else {}))
    yield "data: [DONE]\n\n"


async def _events(job):
    """Text pieces, then the Completion (or an ApiError if generation failed)."""
    try:
        async for piece in job.pieces():
            yield piece
        yield job.completion
    except Exception as e:
        yield ApiError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error")


# ----------------------------------------------------------------------------------------------
# Running it
# ----------------------------------------------------------------------------------------------

def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0 = any free one), or a TunesmithError that says why not."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise TunesmithError(f"--host {host}: cannot resolve it ({e.strerror})",
                             "use 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # reuse TIME_WAIT ports; a live listener still blocks
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno in (98, 48):  # EADDRINUSE on Linux, macOS
            raise TunesmithError(f"port {port} on {host} is already in use (another server is listening there)",
                                 "stop that server, choose another --port, or --port 0 for any free port") from None
        if e.errno == 13:
            raise TunesmithError(f"no permission to listen on port {port}",
                                 "ports below 1024 need root; choose --port 8000 or higher") from None
        raise TunesmithError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(128)
    return sock


class RunningServer:
    """A uvicorn server on its own thread (tests, notebooks); `stop()` shuts it down."""

    def __init__(self, app, sock: socket.socket):
        import uvicorn

        self.sock = sock
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def start(self, timeout: float = 30.0) -> "RunningServer":
        self.thread.start()
        deadline = time.time() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise TunesmithError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def serve(target: Target, host: str, port: int, *, api_key: str | None = None, max_tokens: int = 512,
          announce=print) -> None:
    """Serve until Ctrl-C, in this thread."""
    import uvicorn

    sock = bind(host, port)
    app = create_app(target, api_key=api_key, max_tokens=max_tokens)
    shown = f"[{host}]" if ":" in host else host
    announce(f"serving {target.name} at http://{shown}:{sock.getsockname()[1]}/v1 "
             f"(OpenAI-compatible{', API key required' if api_key else ''}); Ctrl-C stops")
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
