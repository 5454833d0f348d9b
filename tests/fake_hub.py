"""A Hugging Face Hub on 127.0.0.1 that speaks the few routes create_repo and upload_folder use.

The real huggingface_hub client talks to it (``HfApi(endpoint=...)``), so the upload path is
exercised at the library's boundary: what arrives here is what the Hub would have received.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class HubState:
    user: str = "me"
    orgs: tuple[str, ...] = ("team",)
    fail: dict[str, int] = field(default_factory=dict)  # route word ("whoami", "create", "commit") -> status
    drop: str | None = None  # route word whose connection is cut without an answer
    created: list[dict] = field(default_factory=list)
    commits: list[dict[str, bytes]] = field(default_factory=list)  # path -> content, per commit
    tokens: set[str] = field(default_factory=set)


def _route(path: str) -> str:
    for word in ("whoami", "repos/create", "validate-yaml", "preupload", "commit"):
        if word in path:
            return word.split("/")[-1]
    return "other"


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def _send(self, code: int, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _gate(self, route: str) -> bool:
        self.state.tokens.add(self.headers.get("authorization", ""))
        if self.state.drop == route:
            self.close_connection = True
            self.connection.close()
            return False
        if route in self.state.fail:
            self._send(self.state.fail[route], {"error": f"{route} refused by the fake Hub"})
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        route = _route(self.path)
        if self.path.startswith("/api/models/"):  # repo_info, which create_repo asks after a refusal
            code = self.state.fail.get("create")
            repo = self.path.split("/api/models/", 1)[1].split("?")[0].split("/revision")[0]
            (
                self._send(code, {"error": "no access"})
                if code
                else self._send(200, {"id": repo, "private": False})
            )
            return
        if self._gate(route):
            self._send(
                200, {"name": self.state.user, "orgs": [{"name": o} for o in self.state.orgs], "type": "user"}
            )

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = _route(self.path)
        if not self._gate(route):
            return
        base = f"http://127.0.0.1:{self.server.server_port}"
        if route == "create":
            req = json.loads(body)
            self.state.created.append(req)
            self._send(200, {"url": f"{base}/{req.get('organization')}/{req['name']}"})
        elif route == "validate-yaml":
            code = self.state.fail.get("card")
            self._send(
                code or 200, {"errors": [{"message": '"license_name" is not allowed'}]} if code else {}
            )
        elif route == "preupload":
            files = json.loads(body)["files"]
            self._send(
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]
                },
            )
        elif route == "commit":
            repo = self.path.split("/api/models/", 1)[1].split("/commit/")[0]
            lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
            self.state.commits.append(
                {
                    x["value"]["path"]: base64.b64decode(x["value"]["content"])
                    for x in lines
                    if x["key"] == "file"
                }
            )
            self._send(
                # the Hub's URL form: huggingface_hub 0.x parses it against huggingface.co, never fetches it
                200,
                {
                    "commitUrl": f"https://huggingface.co/{repo}/commit/{'a' * 40}",
                    "commitOid": "a" * 40,
                    "success": True,
                },
            )
        else:
            self._send(404, {"error": "not a route of the fake Hub"})

    def log_message(self, *args) -> None:
        pass


class FakeHub:
    def __init__(self) -> None:
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
