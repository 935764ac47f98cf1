"""What one request may ask of the service, and the errors it answers with.

Every refusal is a ``ServiceError``: an HTTP status, one message worded for the
client and a short ``error_type`` (the vocabulary of text-embeddings-inference:
``Validation``, ``Overloaded``, ...), so a client can branch on the type and show
the message. No traceback ever reaches a response.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from clausetag.io import human_bytes


@dataclass(frozen=True)
class Limits:
    """The service's bounds; each has a ``clausetag serve`` option of the same name."""

    #: Largest request body (JSON, an upload or a raw policy), in bytes.
    max_body_bytes: int = 2 * 1024 * 1024
    #: Most units one request may tag: inputs of ``/v1/tag``, segmented units of a policy.
    max_units: int = 2000
    #: Seconds a request may wait and run for its model pass before it is answered 504.
    timeout_s: float = 60.0
    #: Seconds a client has to send its request line, headers and body (slow clients get 408).
    read_timeout_s: float = 15.0
    #: Requests that may wait for the model; one more is answered 429 (Retry-After).
    max_queue: int = 32
    #: Open connections served at once (uvicorn's limit_concurrency); one more is answered 503.
    max_connections: int = 64

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ServiceError(Exception):
    """A request the service refuses: status, message and error type of its JSON answer."""

    def __init__(
        self, status: int, message: str, error_type: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type}


def too_large(limit: int, size: int | None = None) -> ServiceError:
    """``size``: the body's declared length (None: a chunked body that ran past the limit)."""
    told = f"is {human_bytes(size)}, more than" if size is not None else "is larger than"
    return ServiceError(
        413,
        f"the request body {told} this server's limit of {human_bytes(limit)} "
        "(split the policy, or start the server with a larger --max-body-bytes)",
        "PayloadTooLarge",
    )


def too_many_units(count: int, limit: int, what: str) -> ServiceError:
    return ServiceError(
        413,
        f"{what} {count} units, more than this server's limit of {limit} per request "
        "(send them in smaller requests, or start the server with a larger --max-units)",
        "PayloadTooLarge",
    )


def invalid(message: str) -> ServiceError:
    return ServiceError(422, message, "Validation")
