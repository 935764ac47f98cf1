"""The Ray engine's cluster: importing Ray, checking an address, joining or starting Ray, sizing workers.

Ray itself is passed in (``import_ray``), so importing this module never imports it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from types import ModuleType
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.batch import one_line

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'clausetag[ray]'"
#: The object store of a Ray the CLI starts itself: only file names and counts travel through it.
_LOCAL_OBJECT_STORE = 256 * 1024 * 1024
_CONNECT_TIMEOUT_S = 5.0
#: HTTP/2's client connection preface and an empty SETTINGS frame: Ray's GCS and Ray Client
#: servers speak gRPC, so a cluster answers with a SETTINGS frame of its own at once.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def import_ray() -> ModuleType:
    """The ``ray`` package, or a message saying which extra installs it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise ClausetagError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _reach(host: str, port: int, result: list[BaseException | None]) -> None:
    """Connect and see a gRPC (HTTP/2) server answer: a port that accepts and stays silent is no cluster."""
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S) as conn:
            conn.sendall(_HTTP2_PREFACE)
            answer = conn.recv(9)
        if len(answer) < 4 or answer[3] != 0x04:  # the frame type of SETTINGS
            raise ConnectionError(0, "it does not answer like a Ray cluster (no gRPC there)")
        result.append(None)
    except OSError as exc:
        result.append(exc)


def check_address(address: str, flag: str = "--address") -> None:
    """Fail within ``_CONNECT_TIMEOUT_S`` on an address where no cluster answers (Ray itself retries
    for minutes), name resolution included; ``flag``: where the address came from (``RAY_ADDRESS``).

    The connection is tried in a helper thread: the main thread waits with a
    timeout, so SIGTERM and Ctrl-C end the wait at once.
    """
    if address in ("auto", "local"):
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClausetagError(
            f"{flag} {address!r}: expected HOST:PORT of a Ray head node (e.g. 10.0.0.5:6379), "
            "ray://HOST:PORT or auto"
        )
    result: list[BaseException | None] = []
    helper = threading.Thread(target=_reach, args=(host.strip("[]"), int(port), result), daemon=True)
    helper.start()
    helper.join(_CONNECT_TIMEOUT_S + 0.5)
    exc = result[0] if result else TimeoutError()
    if exc is not None:
        reason = getattr(exc, "strerror", None) or (
            "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        )
        raise ClausetagError(
            f"{flag} {address}: no Ray cluster answers there ({reason}); "
            "check the address, or start one with `ray start --head`"
        )


def connect(ray: ModuleType, address: str | None) -> bool:
    """Join the cluster at ``address`` (or RAY_ADDRESS), else start a local Ray; True if we started it.

    ``RAY_ADDRESS`` is checked like ``--address``. A Ray the caller already
    initialised (tests, notebooks) is used as it is.
    """
    if address:
        check_address(address)
    elif os.environ.get("RAY_ADDRESS"):
        check_address(os.environ["RAY_ADDRESS"], "RAY_ADDRESS")
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a tagging run sends nothing
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    local = not address and not os.environ.get("RAY_ADDRESS")
    if local:
        quiet.update(include_dashboard=False, object_store_memory=_LOCAL_OBJECT_STORE)
    ours = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        ray.init(address=address or None, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a new local Ray"
        raise ClausetagError(f"cannot start or join Ray at {where} ({one_line(exc)})") from None
    except SystemExit as exc:  # SIGTERM while ray.init retries: its handler exits; ours interrupts
        if exc.code != signal.SIGTERM:
            raise
        raise KeyboardInterrupt(f"signal {signal.SIGTERM}") from None
    finally:
        if ours is not None:  # ray.init installs a SIGTERM handler of its own (sys.exit)
            signal.signal(signal.SIGTERM, ours)
    return True


def worker_shape(ray: ModuleType, workers: int | None) -> tuple[int, int, float]:
    """(actors, threads per actor, CPUs each reserves): by default one actor per two CPUs."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    if workers and workers > cpus:
        logger.warning(
            "--workers %d capped to %d: each worker needs at least one CPU of its own, and the "
            "cluster has %d (more would only share them, each with its own copy of the model)",
            workers,
            cpus,
            cpus,
        )
        workers = cpus
    n = workers or max(1, cpus // 2)
    threads = max(1, cpus // n)
    return n, threads, min(float(threads), cpus / n)
