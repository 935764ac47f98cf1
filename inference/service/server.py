"""``clausetag serve``: load a model once and serve it over HTTP (uvicorn) with the web page.

    clausetag serve --model models/clausetag-me5-small [--backend torch] [--host 127.0.0.1] [--port 8000]

Binds the loopback address unless told otherwise (there is no authentication: a
wider ``--host`` is logged as a warning). ``--port 0`` takes a free port; the
address actually bound is logged as ``clausetag: listening on http://HOST:PORT``
once the server accepts requests. SIGINT and SIGTERM stop it gracefully.

The limits of ``limits.Limits`` are options. Slow clients: the body must arrive
within ``--read-timeout`` (408), and a connection that sends no complete request
head within that time, or idles between requests past it, is closed (the
uvicorn ``H11Protocol`` subclass below: uvicorn itself waits for headers forever).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.service.limits import Limits
from clausetag.io import os_reason
from clausetag.options import add_backend, add_batch_size, positive_int

logger = logging.getLogger(__name__)

DEFAULTS = Limits()


def _seconds(value: str, zero: bool = False) -> float:
    """argparse type: a finite number of seconds, above 0 (or at least 0 with ``zero``)."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {value!r}") from None
    if not (x >= 0 if zero else x > 0) or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a {'' if zero else 'positive '}finite number, not {value}")
    return x


def _positive_float(value: str) -> float:
    return _seconds(value)


def _non_negative_float(value: str) -> float:
    return _seconds(value, zero=True)


#: Each field of ``Limits``: its option, argparse type, metavar (None: the option's own) and help.
LIMIT_OPTIONS: dict[str, tuple[str, Any, str | None, str]] = {
    "max_body_bytes": ("--max-body-bytes", positive_int, None, "largest request body"),
    "max_units": ("--max-units", positive_int, None, "most units per request: /v1/tag inputs, policy units"),
    "timeout_s": ("--timeout", _positive_float, "SECONDS", "per request, waiting included; then 504"),
    "read_timeout_s": ("--read-timeout", _positive_float, "SECONDS", "for a client to send its request"),
    "max_queue": ("--max-queue", positive_int, None, "requests waiting for the model; more get 429"),
    "max_connections": ("--max-connections", positive_int, None, "connections served at once; more get 503"),
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clausetag serve",
        description="Serve a model over HTTP: /v1/tag, /v1/documents, /v1/report, /v1/info, /health, "
        "the OpenAPI schema at /openapi.json, and a web page at /.",
    )
    parser.add_argument("--model", required=True, help="model directory written by `clausetag train`")
    add_backend(parser)
    add_batch_size(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    limits = parser.add_argument_group("limits")
    for field, (option, kind, metavar, meaning) in LIMIT_OPTIONS.items():
        default = getattr(DEFAULTS, field)
        shown = f"{default:g}" if isinstance(default, float) else default
        limits.add_argument(
            option,
            dest=field,
            type=kind,
            default=default,
            metavar=metavar,
            help=f"{meaning} (default {shown})",
        )
    batching = parser.add_argument_group("micro-batching of concurrent /v1/tag requests")
    batching.add_argument(
        "--max-batch-units",
        type=positive_int,
        default=128,
        help="texts of queued requests tagged in one pass (default 128; 1: no merging)",
    )
    batching.add_argument(
        "--batch-wait-ms",
        type=_non_negative_float,
        default=0.0,
        help="how long a lone request waits for others to share its pass (default 0)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser pages from this origin (repeatable; default: no CORS)",
    )
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; an address in use or not available is one message."""
    if not 0 <= port <= 65535:
        raise ClausetagError(f"--port must be from 0 to 65535, not {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ClausetagError(f"--host {host}: cannot resolve ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ClausetagError(f"cannot listen on {host}:{port} ({os_reason(exc)})") from None
    sock.set_inheritable(True)
    return sock


def guarded_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing connections that send no whole request head in time."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(header_timeout_s, self._expire)

        def _expire(self) -> None:
            idle = self.cycle is None or self.cycle.response_complete
            if idle and not self.transport.is_closing():  # no request in progress: headers never came
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(**{field: getattr(args, field) for field in LIMIT_OPTIONS})


def serve_main(argv: list[str]) -> int:
    """``clausetag serve``: runs until SIGINT or SIGTERM."""
    args = build_parser().parse_args(argv)
    import uvicorn  # the [serve] extra: a missing one is an install hint (clausetag.cli)

    from clausetag.inference.batch import load_classifier
    from clausetag.inference.service.app import create_app
    from clausetag.inference.service.engine import Engine

    limits = _limits(args)
    if not _is_loopback(args.host):
        logger.warning(
            "binding %s: the service is reachable from other machines and has no authentication", args.host
        )
    sock = bind(args.host, args.port)  # before the model loads: a port in use fails in a second
    try:
        clf = load_classifier(args.model, args.backend)
        engine = Engine(
            clf,
            batch_size=args.batch_size,
            max_queue=limits.max_queue,
            max_batch_units=args.max_batch_units,
            batch_wait_s=args.batch_wait_ms / 1000,
        )
        name = Path(os.path.realpath(args.model)).name
        app = create_app(engine, limits, model=name, cors_origins=args.cors_origin)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host

        @asynccontextmanager
        async def lifespan(_: Any) -> Any:
            logger.info(
                "listening on http://%s:%d (model %s, backend %s; the page is at /)",
                shown,
                port,
                name,
                clf.backend_name,
            )
            yield
            engine.close()

        app.router.lifespan_context = lifespan
        config = uvicorn.Config(
            app,
            http=guarded_protocol(limits.read_timeout_s),
            limit_concurrency=limits.max_connections,
            timeout_keep_alive=5,
            h11_max_incomplete_event_size=64 * 1024,
            access_log=not args.no_access_log,
            server_header=False,
            lifespan="on",
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
