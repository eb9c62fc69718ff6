"""The explorer's web server: a small Starlette app over `rnnlab.viz.data`, run by uvicorn.

Every number on the page comes from `rnnlab.viz.data.compute` (the engine, in Python); the page
itself only draws. Endpoints:

    GET  /                  the page (index.html); `?view=NAME` picks the view client-side
    GET  /static/<file>     one of the package's own static files (a map built at start-up)
    GET  /api/health        {"status": "ok", "views": [...]}
    GET  /api/views         view names, titles and default parameters
    POST /api/view/<name>   a JSON object of parameters -> the view's data dict

Safety, because a local server is still a server:
- binds 127.0.0.1 by default and answers only to loopback Host headers (DNS rebinding);
- static files are read once into memory at start-up: no request path reaches the file system;
- request bodies are capped at 16 KiB, must be JSON objects (Content-Type application/json, so a
  foreign web page cannot post without a CORS preflight, which this server never grants), and
  NaN/Infinity are refused; the data functions validate every parameter (ValueError -> 400);
- every error is JSON {"error": message} with a 4xx/5xx status, and the server stays up;
- the engine models keep caches between calls, so compute runs in a worker thread under a lock.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import math
import mimetypes
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import data as viz_data

MAX_BODY_BYTES = 16 * 1024
STATIC_DIR = Path(__file__).with_name("static")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
VIEW_TITLES = {
    "unroll": "Unrolling",
    "hidden-state": "Hidden state",
    "weight-sharing": "Parameter sharing",
    "generation": "Generation",
    "vanishing-gradients": "Vanishing gradients",
    "bptt-flow": "BPTT flow",
    "attention": "Attention",
    "forecast": "Forecasting",
}
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        b"form-action 'none'",
    ),
]


class PortInUseError(OSError):
    """The requested port is taken; the message says which and what to do."""


# -- static files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str


def load_static(directory: Path = STATIC_DIR) -> dict[str, StaticFile]:
    """Read every file under `directory` into memory, keyed by its relative POSIX path.

    The map is the whitelist: a request is served only if its path is one of these keys.
    """
    files: dict[str, StaticFile] = {}
    if not directory.is_dir():
        raise FileNotFoundError(f"explorer: static directory {directory} is missing")
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = path.relative_to(directory).as_posix()
        ctype = _CONTENT_TYPES.get(path.suffix.lower()) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        files[name] = StaticFile(path.read_bytes(), ctype)
    if "index.html" not in files:
        raise FileNotFoundError(f"explorer: {directory}/index.html is missing")
    return files


# -- view catalogue -------------------------------------------------------------------------
def view_defaults(view: str) -> dict[str, Any]:
    """The default parameters of a view, as the engine declares them."""
    return viz_data.parameters(view)


def view_catalogue() -> list[dict[str, Any]]:
    return [
        {"name": v, "title": VIEW_TITLES.get(v, v), "defaults": view_defaults(v)}
        for v in viz_data.VIEWS
    ]


# -- JSON helpers -----------------------------------------------------------------------------
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": message}, status_code=status, headers={"cache-control": "no-store"}
    )


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed: numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _to_builtin(obj):
    """json.dumps fallback: NumPy scalars and arrays become plain Python values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _null_non_finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _null_non_finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_null_non_finite(v) for v in obj]
    return obj


def encode_result(result: dict) -> bytes:
    """Strict JSON; non-finite floats (overflow) become null and a warning says so."""
    try:
        text = json.dumps(result, allow_nan=False, default=_to_builtin, separators=(",", ":"))
    except ValueError:
        plain = json.loads(json.dumps(result, default=_to_builtin))
        plain = _null_non_finite(plain)
        warnings = list(plain.get("warnings", []))
        warnings.append("some values overflowed (inf or nan) and were sent as null")
        plain["warnings"] = warnings
        text = json.dumps(plain, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPException(400, "Content-Length is not a number") from None
        if size > MAX_BODY_BYTES:
            raise HTTPException(
                413, f"request body too large: {size} bytes (the limit is {MAX_BODY_BYTES})"
            )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(
                413, f"request body too large (the limit is {MAX_BODY_BYTES} bytes)"
            )
    return bytes(body)


def parse_params(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The request's parameters: a JSON object (an empty body means the defaults)."""
    if not body.strip():
        return {}
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise HTTPException(415, f"expected Content-Type application/json, got {media or 'none'}")
    try:
        text = body.decode("utf-8")
        params = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise HTTPException(400, "request body is not valid UTF-8") from None
    except RecursionError:
        raise HTTPException(400, "malformed JSON: nested too deeply") from None
    except ValueError as err:
        raise HTTPException(400, f"malformed JSON: {err}") from None
    if not isinstance(params, dict):
        raise HTTPException(
            400, f"expected a JSON object of parameters, got {type(params).__name__}"
        )
    return params


# -- middleware -------------------------------------------------------------------------------
def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8765
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class _Guard:
    """ASGI middleware: refuse foreign Host headers; add security headers to every answer."""

    def __init__(self, app, allowed_hosts: Iterable[str] | None):
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed is not None:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if _host_name(host) not in self.allowed:
                response = _error(
                    400,
                    f"unexpected Host header {host[:80]!r}: this server "
                    f"answers only to {sorted(self.allowed)}",
                )
                await response(scope, receive, send)
                return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + _SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- the app ----------------------------------------------------------------------------------
def create_app(
    models,
    *,
    static_dir: Path = STATIC_DIR,
    allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    log: Callable[[str], None] | None = None,
) -> Starlette:
    """The explorer app over loaded `models` (an `rnnlab.viz.models.ExplorerModels`).

    allowed_hosts: Host header names to answer (None answers any: only for a deliberate
    non-loopback --host). log: where unexpected engine errors are reported (default: stderr).
    """
    static = load_static(static_dir)
    views = tuple(viz_data.VIEWS)
    catalogue = view_catalogue()
    engine_lock = threading.Lock()
    report = log or (lambda text: print(text, flush=True))

    def compute(view: str, params: dict) -> bytes:
        with engine_lock:  # layers keep their last cache: one computation at a time
            result = viz_data.compute(view, models, params)
        return encode_result(result)

    async def index(request: Request) -> Response:
        view = request.query_params.get("view")
        if view is not None and view not in views:
            raise HTTPException(
                404, f"unknown view {view[:64]!r}; expected one of {', '.join(views)}"
            )
        page = static["index.html"]
        return Response(
            page.body, media_type=page.content_type, headers={"cache-control": "no-cache"}
        )

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        entry = static.get(name)  # a dict lookup: the path never reaches the file system
        if entry is None:
            raise HTTPException(404, "no such static file")
        return Response(
            entry.body, media_type=entry.content_type, headers={"cache-control": "no-cache"}
        )

    async def health(request: Request) -> Response:
        return JSONResponse(
            {"status": "ok", "views": list(views)}, headers={"cache-control": "no-store"}
        )

    async def list_views(request: Request) -> Response:
        return JSONResponse({"views": catalogue}, headers={"cache-control": "no-store"})

    async def view_data(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in views:
            raise HTTPException(
                404, f"unknown view {name[:64]!r}; expected one of {', '.join(views)}"
            )
        params = parse_params(await _read_body(request), request.headers.get("content-type"))
        started = time.perf_counter()
        try:
            body = await run_in_threadpool(compute, name, params)
        except ValueError as err:  # the engine's parameter checks: the client's mistake
            return _error(400, str(err) or "invalid parameters")
        except Exception as err:
            report(
                f"explorer: {name} failed: {type(err).__name__}: {err}\n" + traceback.format_exc()
            )
            return _error(500, f"{name}: internal error ({type(err).__name__}: {err})")
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return Response(
            body,
            media_type="application/json",
            headers={"cache-control": "no-store", "server-timing": f"compute;dur={elapsed_ms:.1f}"},
        )

    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail
        if exc.status_code == 404 and message in ("Not Found", None, ""):
            message = f"not found: {request.url.path[:100]}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path[:100]}"
        response = _error(exc.status_code, str(message))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        report(f"explorer: {request.url.path}: {type(exc).__name__}: {exc}")
        return _error(500, f"internal error ({type(exc).__name__})")

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/api/views", list_views, methods=["GET"]),
        Route("/api/view/{name}", view_data, methods=["POST"]),
        Route("/static/{name:path}", static_file, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error}
    )
    app.add_middleware(_Guard, allowed_hosts=allowed_hosts)
    app.state.models = models
    return app


# -- running it -------------------------------------------------------------------------------
def bind_socket(host: str = "127.0.0.1", port: int = 8765) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one); a clear error if the port is busy."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if os.name == "posix":  # rebind right after a restart (TIME_WAIT); never steals a listener
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            message = (
                f"port {port} on {host} is busy (another program, or another "
                f"`rnnlab explore`, is using it); choose another with --port N"
            )
            raise PortInUseError(err.errno, message) from None
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(app: Starlette):
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=64,
    )
    return uvicorn.Server(config)


class BackgroundServer:
    """Run the app with uvicorn in a daemon thread (tests, notebooks).

    with BackgroundServer(app) as srv:
        httpx.get(srv.url + "api/health")
    """

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0):
        self.sock = bind_socket(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.server = _uvicorn_server(app)
        self.thread = threading.Thread(target=self._run, name="rnnlab-explorer", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def _run(self):
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("explorer: the server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def serve(
    app: Starlette,
    sock: socket.socket,
    *,
    open_browser: bool = False,
    view: str | None = None,
    log: Callable[[str], None] = print,
) -> None:
    """Serve on an already bound socket until Ctrl-C; optionally open the page in a browser."""
    server = _uvicorn_server(app)
    host, port = sock.getsockname()[:2]
    if _is_unspecified(host):  # a wildcard bind is not an address to browse to
        host = "::1" if ":" in host else "127.0.0.1"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    if view:
        url += f"?view={view}"

    def announce():
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            log(f"rnnlab explorer: {url}  (Ctrl-C to stop)")
            if open_browser:
                import webbrowser

                if not webbrowser.open(url):
                    log("could not open a browser; open the address above by hand")

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])
