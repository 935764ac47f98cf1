"""The FastAPI application of ``clausetag serve``: endpoints, body limits, JSON errors, the page.

``create_app(engine, limits, model=...)`` builds it over a loaded model (see
``server`` for the process around it). Endpoints:

- ``POST /v1/tag``: ``{"inputs": str | [str], "lang"?, "raw_scores"?, "contexts"?}`` → for each
  input the labels over the model's thresholds as ``[{"label", "score"}]``, highest first (a
  single string gives one such list, a list a list of them: text-embeddings-inference's
  ``/predict`` shape);
- ``POST /v1/documents``: a whole policy (JSON, a multipart upload or a raw text/Markdown/HTML
  body) → its units with offsets, kind, section, labels and scores;
- ``POST /v1/report``: the same input → the Art. 13 coverage report (JSON, or HTML for
  ``Accept: text/html``);
- ``GET /health``, ``GET /v1/info``, ``GET /openapi.json``; ``GET /`` the web page.

Every error is ``{"error": message, "error_type": type}`` with a 4xx status for what the
client can fix (429/503/504 for load and time), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict
from importlib import resources
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from clausetag import __version__
from clausetag.errors import ClausetagError, check_texts
from clausetag.inference.context import as_context
from clausetag.inference.report import ART13_ITEMS, RENDERERS
from clausetag.inference.service.engine import Engine
from clausetag.inference.service.limits import Limits, ServiceError, invalid, too_large, too_many_units
from clausetag.inference.service.policy import (
    MEDIA_FORMATS,
    Policy,
    TaggedPolicy,
    policy_report,
    tag_policy,
    unit_record,
    upload_format,
    upload_name,
)
from clausetag.inference.service.schemas import (
    DocumentRequest,
    PolicyRequest,
    TagRequest,
    parse_fields,
    parse_json,
)
from clausetag.io import check_strings, decode_text, is_blank
from clausetag.labels import EXCLUSIVE_LABEL
from clausetag.languages import LANGUAGES

logger = logging.getLogger(__name__)

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
#: What a policy endpoint answers, given the request, its parsed body and the tagged policy.
PolicyAnswer = Callable[[Request, Any, TaggedPolicy], Response]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

#: The page's files (package data beside this module) and their media types.
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}
#: The page runs only its own script and style and talks only to this server.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: The HTML report: its own inline style, no script at all.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
#: The endpoints that take a whole policy, and their OpenAPI summaries.
POLICY_SUMMARIES = {
    "/v1/documents": "Tag a whole policy: its units with offsets, kind, section, labels and scores",
    "/v1/report": "The GDPR Art. 13 coverage report of a policy (JSON, or HTML with Accept: text/html)",
}
ERROR_TYPES = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


def error_response(err: ServiceError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers={**SAFE_HEADERS, **err.headers})


# --------------------------------------------------------------------------- body limits


class BodyLimit:
    """Reads each request body whole before the app sees it, within a size cap and a deadline.

    A declared ``Content-Length`` over the cap is refused before a byte of the body is
    read; a chunked body is refused as soon as it passes the cap; a body that does not
    arrive within ``read_timeout_s`` is answered 408 (a slow client holds no worker).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except ServiceError as err:
            await error_response(err)(scope, receive, send)
            return
        if body is None:  # the client went away
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when it comes

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Callable[[], Awaitable[Message]]) -> bytes | None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large(self.max_bytes, int(declared))
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.read_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise ServiceError(
                    408,
                    f"the request body did not arrive within {self.read_timeout_s:g} s",
                    "RequestTimeout",
                    {"Connection": "close"},
                ) from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise too_large(self.max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


# --------------------------------------------------------------------------- helpers


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _wait(future: Future[T], timeout_s: float) -> T:
    """The engine's answer, or 504 after ``timeout_s`` (a job still queued then never runs)."""
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
    except TimeoutError:
        future.cancel()  # a queued job never runs (one already running finishes, unanswered)
        raise ServiceError(
            504,
            f"the request did not finish within this server's limit of {timeout_s:g} s "
            "(send fewer units, or start the server with a larger --timeout)",
            "Timeout",
        ) from None


def _check_contexts(contexts: Sequence[object], count: int) -> None:
    """One well-formed context per input, whether or not this model reads them (a client's bug
    should not wait for a context model to show)."""
    if len(contexts) != count:
        raise invalid(f"contexts: {len(contexts)} given for {count} inputs; give one context per input")
    for i, value in enumerate(contexts):
        try:
            as_context(value)
        except ValueError as exc:
            raise invalid(f"contexts[{i}]: {exc}") from None


def _tag_results(preds: Sequence[Any], labels: Sequence[str], raw_scores: bool) -> list[list[dict[str, Any]]]:
    """Each prediction as ``[{"label", "score"}]``: its chosen labels, or with ``raw_scores`` every
    label (each with ``selected``), highest score first."""
    out = []
    for p in preds:
        if raw_scores:
            chosen = set(p.labels)
            ranked = sorted(labels, key=lambda name: -p.scores[name])
            out.append([{"label": n, "score": p.scores[n], "selected": n in chosen} for n in ranked])
        else:
            out.append([{"label": n, "score": p.scores[n]} for n in p.labels])
    return out


_FIELD_NAMES = ("format", "lang", "doc", "top", "return_text", "report")


def _options(fields: Any, model: type[PolicyRequest], text: str, fmt: str | None) -> PolicyRequest:
    """Query or form fields (only the known names; others refused) with the policy as ``text``."""
    given = {k: v for k, v in fields.items() if isinstance(v, str)}
    unknown = sorted(set(given) - set(_FIELD_NAMES))
    if unknown:
        raise invalid(f"unknown field {unknown[0]!r}")
    if fmt is not None:
        given.setdefault("format", fmt)
    return parse_fields(model, {**given, "text": text})


async def read_policy_request(request: Request, model: type[PolicyRequest]) -> PolicyRequest:
    """A policy from JSON, a multipart upload (field ``file``) or a raw text/Markdown/HTML body."""
    media = _media_type(request)
    if media == "application/json":
        return parse_json(model, await request.body())
    if media == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=len(_FIELD_NAMES) + 1)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid("a multipart request needs the policy as a file field named 'file'")
        fmt = upload_format(upload.filename, (upload.content_type or "").split(";")[0].strip().lower())
        text = decode_text(await upload.read(), upload.filename or "upload")
        fields = {k: v for k, v in form.items() if k != "file"}
        fields.setdefault("doc", upload_name(upload.filename))
        return _options({**dict(request.query_params), **fields}, model, text, fmt)
    if media in MEDIA_FORMATS:
        text = decode_text(await request.body(), "the request body")
        return _options(dict(request.query_params), model, text, MEDIA_FORMATS[media])
    shown = media or "no Content-Type"
    raise ServiceError(
        415,
        f"unsupported media type ({shown}): send application/json, multipart/form-data (a file field "
        "named 'file'), or the policy itself as text/plain, text/markdown or text/html",
        "UnsupportedMediaType",
    )


# --------------------------------------------------------------------------- the app


def create_app(
    engine: Engine,
    limits: Limits,
    *,
    model: str,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """The service over ``engine``'s model; ``model`` names it in answers (a folder name, not a path)."""
    clf = engine.clf
    app = FastAPI(
        title="clausetag",
        version=__version__,
        summary="GDPR clause labels for each unit of an English or Latvian privacy policy.",
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN; the schema is enough
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    page = {name: (resources.files(__package__) / "static" / name).read_bytes() for name in PAGE_FILES}
    labels = list(clf.labels)

    # ------------------------------------------------------------------ errors

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(ClausetagError)
    async def _clausetag_error(request: Request, exc: ClausetagError) -> JSONResponse:
        return error_response(invalid(str(exc)))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = f"{message}: {request.method} {request.url.path}"
        err = ServiceError(exc.status_code, message, ERROR_TYPES.get(exc.status_code, "BadRequest"))
        return error_response(err)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(invalid(f"{where}: {first.get('msg', 'invalid request')}"))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(
            ServiceError(500, "internal error; the server's log has the details", "Internal")
        )

    # ------------------------------------------------------------------ service

    @app.get("/health", summary="Liveness: 200 once the model is loaded")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "queued": engine.queued}

    @app.get("/v1/info", summary="The model, its labels and thresholds, the backend, limits and version")
    async def info() -> dict[str, Any]:
        return {
            "model": model,
            "version": __version__,
            "backend": clf.backend_name,
            "labels": labels,
            "thresholds": {n: round(float(t), 4) for n, t in zip(labels, clf.thresholds, strict=True)},
            "threshold_method": clf.model_dir.threshold_method,
            "exclusive_label": EXCLUSIVE_LABEL if EXCLUSIVE_LABEL in labels else None,
            "max_length": clf.model_dir.max_length,
            "context": clf.context.to_config(),
            "ensemble": clf.ngram is not None,
            "languages": list(LANGUAGES),
            "formats": ["txt", "md", "html"],
            "limits": limits.to_dict(),
            "batching": {
                "merging": engine.merging,
                "max_batch_units": engine.max_batch_units,
                "batch_wait_ms": engine.batch_wait_s * 1000,
                "batch_size": engine.batch_size,
            },
            "art13": [
                {"key": i.key, "article": i.article, "labels": list(i.labels), "title": i.title}
                for i in ART13_ITEMS
            ],
            "stats": {**asdict(engine.stats), "queued": engine.queued},
        }

    tag_body = {"content": {"application/json": {"schema": TagRequest.model_json_schema()}}, "required": True}

    @app.post(
        "/v1/tag",
        summary="Tag texts (units) with the model's labels",
        openapi_extra={"requestBody": tag_body},
        responses={200: {"description": "per input: [{label, score}], or one such list for a string"}},
    )
    async def tag(request: Request) -> JSONResponse:
        if _media_type(request) != "application/json":
            raise ServiceError(415, "send the request as application/json", "UnsupportedMediaType")
        req: TagRequest = parse_json(TagRequest, await request.body())
        single = isinstance(req.inputs, str)
        texts = [req.inputs] if isinstance(req.inputs, str) else req.inputs
        if len(texts) > limits.max_units:
            raise too_many_units(len(texts), limits.max_units, "the request has")
        check_strings(texts, "inputs")
        texts = check_texts(texts, is_blank)
        if req.contexts is not None:
            _check_contexts(req.contexts, len(texts))
        preds = await _wait(engine.tag(texts, req.contexts), limits.timeout_s) if texts else []
        results = _tag_results(preds, labels, req.raw_scores)
        return JSONResponse(results[0] if single else results)

    def policy_body(model_cls: type[PolicyRequest]) -> dict[str, Any]:
        raw = {"schema": {"type": "string"}}
        upload = {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    **{k: {"type": "string"} for k in _FIELD_NAMES if k in model_cls.model_fields},
                },
                "required": ["file"],
            }
        }
        return {
            "content": {
                "application/json": {"schema": model_cls.model_json_schema()},
                "multipart/form-data": upload,
                **{media: raw for media in ("text/plain", "text/markdown", "text/html")},
            },
            "required": True,
        }

    def policy_endpoint(path: str, model_cls: type[PolicyRequest]) -> Callable[[PolicyAnswer], PolicyAnswer]:
        """Serve ``answer(request, req, tagged)`` as ``POST path``: the policy is read as ``model_cls``
        (JSON, an upload or a raw body) and tagged on the worker before ``answer`` sees it."""

        def register(answer: PolicyAnswer) -> PolicyAnswer:
            async def endpoint(request: Request) -> Response:
                req = await read_policy_request(request, model_cls)
                policy = Policy(req.text, req.format, req.doc, req.lang)
                job = engine.call(lambda: tag_policy(clf, policy, limits.max_units, engine.batch_size))
                return answer(request, req, await _wait(job, limits.timeout_s))

            endpoint.__name__ = answer.__name__  # the route's name and OpenAPI operationId
            extra = {"requestBody": policy_body(model_cls)}
            app.post(path, summary=POLICY_SUMMARIES[path], openapi_extra=extra)(endpoint)
            return answer

        return register

    @policy_endpoint("/v1/documents", DocumentRequest)
    def documents(request: Request, req: Any, result: TaggedPolicy) -> Response:
        body: dict[str, Any] = {
            "doc": result.doc,
            "model": model,
            "lang": result.lang,
            "labels": labels,
            "units": [unit_record(u) for u in result.units],
        }
        if req.return_text:
            body["text"] = result.text
        if req.report:
            body["report"] = policy_report(result, clf, model, req.top).to_dict()
        return JSONResponse(body)

    @policy_endpoint("/v1/report", PolicyRequest)
    def report(request: Request, req: Any, result: TaggedPolicy) -> Response:
        cover = policy_report(result, clf, model, req.top)
        if _wants_html(request.headers.get("accept", "")):
            headers = {**SAFE_HEADERS, "Content-Security-Policy": REPORT_CSP}
            return HTMLResponse(RENDERERS["html"](cover), headers=headers)
        return JSONResponse(cover.to_dict())

    # ------------------------------------------------------------------ the page

    def page_file(name: str) -> Response:
        headers = {**SAFE_HEADERS, "Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
        return Response(page[name], media_type=PAGE_FILES[name], headers=headers)

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return page_file("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in page or name == "index.html":
            raise ServiceError(404, f"no such file: /static/{name}", "NotFound")
        return page_file(name)

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, read_timeout_s=limits.read_timeout_s)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Accept"],
            max_age=600,
        )
    return app


def _wants_html(accept: str) -> bool:
    """``Accept: text/html`` (at a q above JSON's, when both are named)."""
    weights: dict[str, float] = {}
    for part in accept.lower().split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.strip()] = q if math.isfinite(q) else 0.0
    html = weights.get("text/html", 0.0)
    return html > 0 and html >= weights.get("application/json", 0.0)
