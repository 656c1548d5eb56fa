"""The `tunesmith ui` server: one FastAPI app, a router per tab, the static front end.

    app = create_app(root=Path("."))      # paths typed in the page are relative to root

Training runs start in root; a run's config names its model and data relative to that, so the
server's own working directory must be root too when it loads a run to chat with (`tunesmith ui`
changes into it).

Errors a user can fix (`TunesmithError`, `FieldError`) answer 400 with the message, hint and the
field they belong to; anything else answers 500 with what went wrong and is logged with its
traceback. Either way the server keeps serving: a bad path or a crashed run never takes it down.

Every request first passes `security.Guard` (token, Host, Origin, JSON-only bodies; see there), and every
path a request names is confined to root (`paths.confine`).
"""

from __future__ import annotations

import importlib
import logging
import threading
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from tunesmith import __version__
from tunesmith.errors import TunesmithError
from tunesmith.ui import chat_routes, data_routes, train_routes
from tunesmith.ui.errors import payload
from tunesmith.ui.security import Guard, new_token
from tunesmith.ui.train_jobs import Jobs

log = logging.getLogger(__name__)


def static_dir() -> Path:
    return Path(str(resources.files("tunesmith") / "ui" / "static"))


def _warm_up() -> None:
    """Import torch, transformers and PEFT in the background: the first form check needs them, and on a
    busy CPU they take many seconds to import, which the first keystroke should not wait for."""
    def work():
        for name in ("tunesmith.train.preflight", "tunesmith.train.estimate", "tunesmith.infer.target", "peft"):
            try:
                importlib.import_module(name)
            except ImportError:  # an optional piece missing shows up where it is used, with its message
                pass

    threading.Thread(target=work, name="tunesmith-ui-warm-up", daemon=True).start()


def create_app(root: str | Path = ".", runs_dir: str | Path = "runs", *, token: str | None = None,
               host: str = "127.0.0.1") -> FastAPI:
    """The app; `token` (random when not given: read it from app.state.token) is what every request needs,
    `host` the address it is bound to (the Host header must name it or a loopback name)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        _warm_up()
        yield

    app = FastAPI(title="tunesmith", version=__version__, docs_url="/api/docs", redoc_url=None, lifespan=lifespan)
    app.state.root = Path(root).expanduser().resolve()
    runs = Path(runs_dir).expanduser()
    app.state.runs_dir = runs if runs.is_absolute() else app.state.root / runs
    app.state.jobs = Jobs(app.state.root)
    app.state.token = token or new_token()
    app.add_middleware(Guard, token=app.state.token, bound_host=host)
    if Path.cwd().resolve() != app.state.root:
        log.warning("the ui root %s is not the working directory %s: relative paths in run configs "
                    "will not load for chat", app.state.root, Path.cwd())

    @app.exception_handler(TunesmithError)
    async def user_error(request: Request, e: TunesmithError):
        return JSONResponse(payload(e), status_code=getattr(e, "status", 400))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return JSONResponse({"error": f"{field or 'request'}: {first.get('msg', 'invalid')}", "hint": None,
                             "field": field}, status_code=422)

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {type(e).__name__}: {e}",
                             "hint": "this is a bug in tunesmith; the server log has the traceback", "field": None},
                            status_code=500)

    for module in (data_routes, train_routes, chat_routes):
        app.include_router(module.router)

    @app.get("/api/info")
    def info() -> dict:
        return {"version": __version__, "root": str(app.state.root), "runs_dir": str(app.state.runs_dir)}

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    return app
