"""An OpenAI-compatible HTTP server for a run folder or a model: any OpenAI client can talk to it.

    POST /v1/chat/completions   messages -> answer (stream: server-sent events, like OpenAI);
                                logprobs / top_logprobs; response_format json_object / json_schema
    POST /v1/completions        raw prompt text -> continuation (no chat template); logprobs
    GET  /v1/models             the one model served;  GET /v1/models/{id}  that model
    GET  /health                liveness, without the API key

Chat prompts are rendered with the run's template (the training code path). Every error, 404 and 405
included, has OpenAI's shape, and a bad request's message names the field as OpenAI does
(`messages.1.content`); an error inside generation is a 500 for that request only. With an API key
set, /v1/* needs `Authorization: Bearer KEY`, except CORS preflights (`OPTIONS`), which carry no key
by design; browsers may call the server only from the origins named with `cors_origins`. `/docs`
and `/openapi.json` need the key too.

One client's cost is bounded (infer/limits.py): body size, time to send the request, open connections.
Prompts are tokenized off the event loop (a long one never stalls /health or other clients), and a
non-streaming client that leaves cancels its generation as a streaming one does. Strings with a lone
surrogate, out-of-range numbers and loosely typed fields are a 400 (openai_schema.py), and any
unexpected error is a 500 in OpenAI's shape.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
from contextlib import asynccontextmanager

from starlette.requests import Request  # module level: route annotations are resolved here

from tunesmith.errors import TunesmithError
from tunesmith.infer.constrain import BadSchema, json_constraint
from tunesmith.infer.engine import Busy, Engine
from tunesmith.infer.generate import PromptTooLong, Sampling, fit
from tunesmith.infer.limits import BodyLimit, Limits, uvicorn_config
from tunesmith.infer.logprobs import chat_logprobs, completion_logprobs
from tunesmith.infer.openai_schema import ChatRequest, CompletionRequest
from tunesmith.infer.target import Target, messages_to_example
from tunesmith.text.spm import encode_prompt

COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
DOC_PATHS = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
DISCONNECT_POLL_S = 0.25
log = logging.getLogger(__name__)
# Parts of a pydantic error location that name a union member ("str", "list[TextPart]"), not a field.
_UNION_MEMBER = re.compile(r"^(?:str|int|float|bool|none|dict|list|[A-Z]\w*|(?:list|dict|literal|function-\w+)\[.*\])$")


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def create_app(target: Target, *, api_key: str | None = None, max_tokens: int = 512, max_queue: int = 64,
               cors_origins: tuple[str, ...] = (), limits: Limits = Limits()):
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    engine = Engine(target.model, target.tokenizer, target.stop_ids, max_queue=max_queue)

    @asynccontextmanager
    async def lifespan(app):
        yield
        engine.close()

    app = FastAPI(title="tunesmith", description=f"OpenAI-compatible server for {target.name}", lifespan=lifespan)
    app.state.engine = engine
    created = int(time.time())
    # The body limit goes outside the whole app (error middleware included), so a body it stops is a 413
    # and never a 500 from an exception raised while a route reads it.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: BodyLimit(build_stack(), max_bytes=limits.max_body_bytes,
                                                   timeout_s=limits.body_timeout_s)

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def _http_error(request, exc: HTTPException):
        # Starlette's own 404 / 405 in OpenAI's shape, so clients raise NotFoundError and friends.
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path} (see GET /v1/models)"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        err = ApiError(exc.status_code, message, code="not_found" if exc.status_code == 404 else None)
        return JSONResponse(err.body(), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        def field_path(error) -> list[str]:
            return [str(p) for p in error.get("loc", ()) if p != "body" and not _UNION_MEMBER.match(str(p))]

        # Of a union's failed members, the one that got furthest says most ("content.0.type", not "content").
        first = max(exc.errors(), key=lambda e: len(field_path(e)))
        loc = field_path(first)
        if first.get("type") == "json_invalid":
            message = f"the request body is not valid JSON ({first.get('ctx', {}).get('error', first['msg'])})"
        else:
            message = (f"{'.'.join(loc)}: " if loc else "") + first["msg"].removeprefix("Value error, ")
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        return JSONResponse(ApiError(400, message, ".".join(loc) or None).body(), status_code=400)

    @app.exception_handler(Exception)
    async def _bug(request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        err = ApiError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error")
        return JSONResponse(err.body(), status_code=500)

    if api_key:
        # A plain ASGI middleware, not @app.middleware("http"): that one wraps `receive`, and a route
        # behind it never sees its client disconnect (the non-streaming cancel below needs to).
        app.add_middleware(KeyCheck, api_key=api_key)

    # Added after the key check, so it runs first: a preflight is answered here, before any key is asked for.
    app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["authorization", "content-type"])

    @app.get("/health")
    def health():
        return {"status": "ok", "model": target.name, "served": engine.served}

    model_card = {"id": target.name, "object": "model", "created": created, "owned_by": "tunesmith"}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [model_card]}

    @app.get("/v1/models/{model_id:path}")
    def model(model_id: str):
        _check_model(model_id, target, param=None)
        return model_card

    def chat_prompt(body: ChatRequest):
        try:
            example = messages_to_example([{"role": m.template_role, "content": m.text()} for m in body.messages],
                                          target.system)
            return target.prompt_ids(example), json_constraint(target, body.response_format)
        except BadSchema as e:
            raise ApiError(400, e.message, "response_format.json_schema.schema") from None
        except TunesmithError as e:
            raise ApiError(400, e.message, "messages") from None

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request):
        _check_model(body.model, target)
        prompt, constraint = await run_in_threadpool(chat_prompt, body)  # tokenizing is CPU work: off the loop
        job = _submit(engine, target, prompt, body, body.limit() or max_tokens, constraint, body.logprob_count())
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_chat_events(job, rid, target.name, usage, body.logprobs),
                                     media_type="text/event-stream")
        text = await _collect(job, request)
        c = job.completion
        logprobs = chat_logprobs(c.logprobs) if body.logprobs else None
        return {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": target.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": c.finish_reason, "logprobs": logprobs}],
                "usage": _usage(c)}

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        _check_model(body.model, target)
        prompt = await run_in_threadpool(encode_prompt, target.tokenizer, body.prompt)
        job = _submit(engine, target, prompt, body, body.limit() or COMPLETIONS_DEFAULT_MAX_TOKENS, None, body.logprobs)
        rid = f"cmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_completion_events(job, rid, target.name, usage, body.logprobs is not None), media_type="text/event-stream")
        text = await _collect(job, request)
        c = job.completion
        logprobs = completion_logprobs(c.logprobs) if body.logprobs is not None else None
        return {"id": rid, "object": "text_completion", "created": int(time.time()), "model": target.name,
                "choices": [{"index": 0, "text": text, "finish_reason": c.finish_reason, "logprobs": logprobs}],
                "usage": _usage(c)}

    return app


class KeyCheck:
    """ASGI middleware: /v1/* and the docs need `Authorization: Bearer KEY` (compared in constant time)."""

    def __init__(self, app, *, api_key: str):
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] != "OPTIONS" and (
                scope["path"].startswith("/v1/") or scope["path"] in DOC_PATHS):
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                from starlette.responses import JSONResponse

                err = ApiError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", code="invalid_api_key")
                return await JSONResponse(err.body(), status_code=401)(scope, receive, send)
        return await self.app(scope, receive, send)


def _check_model(name: str, target: Target, param: str | None = "model") -> None:
    if name != target.name:
        raise ApiError(404, f"the model '{name}' does not exist here; this server serves '{target.name}' "
                            "(GET /v1/models)", param, "model_not_found")


def _submit(engine: Engine, target: Target, prompt: list[int], body, limit: int, constraint=None,
            logprobs: int | None = None):
    sampling = Sampling(max_new_tokens=limit, temperature=body.temperature, top_p=body.top_p, top_k=body.top_k,
                        repetition_penalty=body.repetition_penalty, seed=body.seed, stop=tuple(body.stop or ()))
    try:
        sampling = fit(len(prompt), sampling, target.context)
    except PromptTooLong as e:
        raise ApiError(400, f"{e.message}; shorten the messages", "messages", "context_length_exceeded") from None
    try:
        return engine.submit(prompt, sampling, constraint, logprobs)
    except Busy:
        raise ApiError(503, "the server is busy: too many requests are waiting; retry later",
                       type="server_error", code="overloaded") from None


async def _collect(job, request) -> str:
    """The whole answer; a client that hangs up meanwhile cancels its job (the worker stops between two
    tokens, or skips it if it is still queued)."""
    async def watch():
        while not job.cancel.is_set():
            if await request.is_disconnected():
                job.cancel.set()
                return
            await asyncio.sleep(DISCONNECT_POLL_S)

    watcher = asyncio.create_task(watch())
    try:
        return "".join([piece async for piece in job.pieces()])
    except Exception as e:  # generation failed: this request only
        raise ApiError(500, f"generation failed: {type(e).__name__}: {e}", type="server_error") from None
    finally:
        watcher.cancel()


def _usage(c) -> dict:
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens}


def _sse(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _chat_events(job, rid: str, model: str, include_usage: bool, logprobs: bool):
    created = int(time.time())

    def chunk(delta: dict, finish: str | None = None, entries=None) -> str:
        lp = chat_logprobs(entries) if logprobs and entries is not None else None
        return _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": lp}]})

    yield chunk({"role": "assistant", "content": ""})
    async for event in _events(job):
        if isinstance(event, tuple):
            yield chunk({"content": event[0]}, entries=event[1])
        elif isinstance(event, ApiError):
            yield _sse(event.body())
            break
        else:
            yield chunk({}, event.finish_reason)
            if include_usage:
                yield _sse({"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                            "choices": [], "usage": _usage(event)})
    yield "data: [DONE]\n\n"


async def _completion_events(job, rid: str, model: str, include_usage: bool, logprobs: bool):
    created = int(time.time())
    offset = 0

    def chunk(text: str, finish: str | None = None, entries=None, **extra) -> str:
        lp = completion_logprobs(entries, offset) if logprobs and entries is not None else None
        return _sse({"id": rid, "object": "text_completion", "created": created, "model": model,
                     "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": lp}], **extra})

    async for event in _events(job):
        if isinstance(event, tuple):
            yield chunk(event[0], entries=event[1])
            offset += len(event[0])
        elif isinstance(event, ApiError):
            yield _sse(event.body())
            break
        else:
            yield chunk("", event.finish_reason, **({"usage": _usage(event)} if include_usage else {}))
    yield "data: [DONE]\n\n"


async def _events(job):
    """(text piece, its logprobs) pairs, then the Completion (or an ApiError if generation failed)."""
    try:
        async for piece in job.chunks():
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

    def __init__(self, app, sock: socket.socket, limits: Limits = Limits()):
        import uvicorn

        self.sock = sock
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn_config(app, limits, log_level="warning", lifespan="on"))
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
          cors_origins: tuple[str, ...] = (), limits: Limits = Limits(), announce=print) -> None:
    """Serve until Ctrl-C, in this thread."""
    import uvicorn

    sock = bind(host, port)
    app = create_app(target, api_key=api_key, max_tokens=max_tokens, cors_origins=cors_origins, limits=limits)
    shown = f"[{host}]" if ":" in host else host
    announce(f"serving {target.name} at http://{shown}:{sock.getsockname()[1]}/v1 "
             f"(OpenAI-compatible{', API key required' if api_key else ''}); Ctrl-C stops")
    uvicorn.Server(uvicorn_config(app, limits, log_level="warning")).run(sockets=[sock])
