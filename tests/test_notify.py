"""The webhook: Slack- and Discord-shaped JSON to a server on 127.0.0.1 that the test runs, in the
background, bounded, failures said once, the URL never said at all.

No timing assertions: "never blocks" is shown by sending while the server holds every request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ascii_lora.train.notify import DISCORD_LIMIT, Webhook


class Hook:
    """A webhook receiver: records each JSON body; answers ``status``; may hold requests until released."""

    def __init__(self, status: int = 200, hold: bool = False):
        self.bodies: list[dict] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(
                    {"json": json.loads(body), "type": self.headers["Content-Type"], "path": self.path}
                )
                hook.arrived.set()
                hook.release.wait(30)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/secret-token-123"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """urllib honours *_proxy variables; the test's server is local and must be reached directly."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def test_each_message_arrives_as_json_with_text_for_slack_and_content_for_discord(hook):
    logged: list[str] = []
    w = Webhook(hook.url, timeout_s=10, log=logged.append)
    w.send("launched: 3000 steps")
    w.send(lambda: "checkpoint at step 500: built in the background")
    w.close()
    assert [b["json"] for b in hook.bodies] == [
        {"text": "launched: 3000 steps", "content": "launched: 3000 steps"},
        {
            "text": "checkpoint at step 500: built in the background",
            "content": "checkpoint at step 500: built in the background",
        },
    ]
    assert {b["type"] for b in hook.bodies} == {"application/json"}
    assert hook.bodies[0]["path"] == "/hook/secret-token-123"
    assert (w.delivered, w.failed, logged) == (2, 0, [])


def test_discord_gets_at_most_its_limit_slack_the_whole_text(hook):
    w = Webhook(hook.url, timeout_s=10)
    w.send("x" * 2500)
    w.close()
    body = hook.bodies[0]["json"]
    assert (len(body["text"]), len(body["content"])) == (2500, DISCORD_LIMIT)


def test_a_failing_webhook_is_reported_once_without_its_url():
    hook = Hook(status=500)
    logged: list[str] = []
    try:
        w = Webhook(hook.url, timeout_s=10, log=logged.append)
        for i in range(3):
            w.send(f"message {i}")
        w.close()
    finally:
        hook.close()
    assert len(hook.bodies) == 3 and (w.delivered, w.failed) == (0, 3)
    assert logged == [
        "webhook: a message was not delivered (HTTP 500); training goes on, later failures are not reported"
    ]


def test_an_unreachable_webhook_and_a_message_that_cannot_be_built_are_failures_not_crashes():
    hook = Hook()
    url = hook.url
    hook.close()  # nothing listens on that port any more
    logged: list[str] = []
    w = Webhook(url, timeout_s=5, log=logged.append)
    w.send("lost")

    def broken() -> str:
        raise KeyError("no verdicts")

    w.send(broken)
    w.close()
    assert (w.delivered, w.failed) == (0, 2)
    assert len(logged) == 1 and logged[0].startswith("webhook: a message was not delivered (not reachable (")
    assert "secret-token-123" not in logged[0] and "127.0.0.1" not in logged[0]


def test_sending_never_waits_for_the_server():
    hook = Hook(hold=True)
    try:
        w = Webhook(hook.url, timeout_s=10)
        w.send("first")
        assert hook.arrived.wait(30)  # the POST is in flight and the server holds it ...
        for i in range(10):
            w.send(f"queued {i}")  # ... yet these return: they only enter the queue
        assert len(hook.bodies) == 1 and not hook.release.is_set()
    finally:
        hook.release.set()
        w.close()
        hook.close()
    assert w.delivered == 11


def test_without_a_url_nothing_is_sent_and_no_thread_starts():
    w = Webhook(None)
    w.send("nothing")
    w.close()
    assert (w.enabled, w.delivered, w._thread) == (False, 0, None)
