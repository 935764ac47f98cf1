"""A stand-in of the Hugging Face Hub's HTTP API on 127.0.0.1, for `clausetag push-to-hub` tests.

It answers the calls ``huggingface_hub`` makes to create a repo, validate a card, upload
files as one commit (every file as a "regular" upload: base64 in the commit, no LFS) and
download a snapshot (repo info, ``resolve`` URLs). The card check (``/api/validate-yaml``)
parses the card as ``huggingface_hub.ModelCard`` does, and refuses what it cannot parse.
Nothing leaves the machine; the server stops with the ``with`` block.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


class HubStandIn:
    def __init__(self, token: str = "hf_standin_token") -> None:
        self.token = token
        self.repos: dict[str, dict[str, bytes]] = {}
        self.commits: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                hub._get(self, body=True)

            def do_HEAD(self) -> None:
                hub._get(self, body=False)

            def do_POST(self) -> None:
                hub._post(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _read(handler: BaseHTTPRequestHandler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(handler.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    handler.rfile.readline()
                    return out
                out += handler.rfile.read(size)
                handler.rfile.readline()
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        body: bool = True,
    ) -> None:
        data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        handler.send_response(status)
        handler.send_header(
            "Content-Type", "application/octet-stream" if raw is not None else "application/json"
        )
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    def _sha(self, repo: str) -> str:
        return hashlib.sha1(str(len(self.commits.get(repo, []))).encode() + repo.encode()).hexdigest()

    # --- the API --------------------------------------------------------------------------------

    def _post(self, h: BaseHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        self.calls.append(("POST", path))
        data = self._read(h)
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(h, 401, {"error": "Invalid credentials in Authorization header"})
        if path == "/api/repos/create":
            req = json.loads(data)
            repo = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
            self.repos.setdefault(repo, {})
            return self._send(h, 200, {"url": f"{self.url}/{repo}", "name": repo})
        if path == "/api/validate-yaml":
            from huggingface_hub import ModelCard

            try:
                ModelCard(json.loads(data)["content"], ignore_metadata_errors=False)
            except Exception as exc:
                return self._send(h, 400, {"errors": [{"message": str(exc)}]})
            return self._send(h, 200, {"warnings": []})
        parts = path.split("/")
        if len(parts) >= 7 and parts[:3] == ["", "api", "models"] and parts[5] in ("preupload", "commit"):
            repo = f"{parts[3]}/{parts[4]}"
            if repo not in self.repos:
                return self._send(h, 404, {"error": "Repository not found"})
            if parts[5] == "preupload":
                files = json.loads(data)["files"]
                modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                return self._send(h, 200, {"files": modes})
            lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            for x in lines:
                if x["key"] == "file":
                    self.repos[repo][x["value"]["path"]] = base64.b64decode(x["value"]["content"])
            self.commits.setdefault(repo, []).append(header)
            sha = self._sha(repo)
            return self._send(h, 200, {"commitUrl": f"{self.url}/{repo}/commit/{sha}", "commitOid": sha})
        self.unknown.append(("POST", path))
        return self._send(h, 404, {"error": f"no such endpoint in the stand-in: {path}"})

    def _get(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        self.calls.append(("GET" if body else "HEAD", path))
        parts = path.split("/")
        is_info = len(parts) == 5 and parts[:3] == ["", "api", "models"]
        if is_info or (len(parts) >= 7 and parts[:3] == ["", "api", "models"] and parts[5] == "revision"):
            repo = f"{parts[3]}/{parts[4]}"
            if repo not in self.repos or h.headers.get("Authorization") not in (None, f"Bearer {self.token}"):
                return self._send(h, 404, {"error": "Repository not found"}, body=body)
            siblings = [{"rfilename": p, "size": len(b)} for p, b in sorted(self.repos[repo].items())]
            info = {
                "id": repo,
                "modelId": repo,
                "sha": self._sha(repo),
                "private": False,
                "siblings": siblings,
            }
            return self._send(h, 200, info, body=body)
        if len(parts) >= 7 and parts[:3] == ["", "api", "models"] and parts[5] == "tree":
            repo, under = f"{parts[3]}/{parts[4]}", "/".join(parts[7:])
            files = [
                {"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                for p, b in sorted(self.repos.get(repo, {}).items())
                if not under or p.startswith(under + "/")
            ]
            return self._send(h, 200, files, body=body)
        if len(parts) >= 6 and parts[3] == "resolve":
            repo, file = f"{parts[1]}/{parts[2]}", "/".join(parts[5:])
            content = self.repos.get(repo, {}).get(file)
            if content is None:
                return self._send(
                    h, 404, {"error": "Entry not found"}, body=body, headers={"X-Error-Code": "EntryNotFound"}
                )
            headers = {"ETag": f'"{hashlib.sha1(content).hexdigest()}"', "X-Repo-Commit": self._sha(repo)}
            return self._send(h, 200, raw=content, headers=headers, body=body)
        if path != "/api/agent-harnesses":  # huggingface_hub asks for it on its own; none listed here
            self.unknown.append(("GET", path))
        return self._send(h, 404, {"error": f"no such endpoint in the stand-in: {path}"}, body=body)
