"""Tell a webhook what a run is doing: launch, each saved checkpoint, a stop, a failure, the end.

Why in the background: a webhook that hangs or refuses must never stop or slow training. Messages
go into a bounded queue that one daemon thread drains, each POST is bounded by a timeout, and the
first failure is logged once (later ones are counted, not repeated). A message may be a callable:
it is built in that thread, so reading check verdicts or validation losses costs the trainer's
output stream nothing.

The URL is a secret: nothing here prints, logs or stores it, and a failure names only the kind of
error and the HTTP status.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from .. import __version__
from ..config.watch import WEBHOOK_ENV, NotifyConfig, webhook_url_problem
from ..errors import UserError

DISCORD_LIMIT = 2000  # Discord refuses a message whose content is longer
QUEUE_SIZE = 64
_STOP = object()

Message = str | Callable[[], str]


def webhook_url(notify: NotifyConfig, environ: Mapping[str, str] = os.environ) -> str | None:
    """The URL to post to: ``ASCII_LORA_WEBHOOK_URL`` when set, else ``[notify] webhook_url``, else None."""
    url = environ.get(WEBHOOK_ENV) or (notify.webhook_url.get_secret_value() if notify.webhook_url else None)
    if url:
        problem = webhook_url_problem(url)
        if problem:
            where = WEBHOOK_ENV if environ.get(WEBHOOK_ENV) else "[notify] webhook_url"
            raise UserError(f"{where} {problem} (the value is a secret and is not shown)")
    return url or None


def payload(text: str) -> bytes:
    """Slack reads ``text``, Discord reads ``content``; both ignore the other's key."""
    return json.dumps({"text": text, "content": text[:DISCORD_LIMIT]}).encode()


def _failure(err: BaseException) -> str:
    """The kind of a delivery failure, without the URL (urllib's messages may quote it)."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    if isinstance(err, urllib.error.URLError):
        return f"not reachable ({type(err.reason).__name__})"
    return type(err).__name__


class Webhook:
    """Posts messages to one URL from a daemon thread; ``send`` never blocks, ``close`` waits a bounded time."""

    def __init__(self, url: str | None, timeout_s: float = 5.0, log: Callable[[str], None] = lambda m: None):
        self._url = url
        self._timeout = timeout_s
        self._log = log
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self._url is not None

    def send(self, message: Message) -> None:
        """Queue ``message`` (text, or a callable that returns it); never waits for the network."""
        if self._url is None:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="webhook", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Let queued messages go out, waiting at most about one timeout per queued message (bounded)."""
        if self._thread is None:
            return
        waiting = self._queue.qsize() + 1
        try:
            self._queue.put(_STOP, timeout=self._timeout)
        except queue.Full:
            pass
        self._thread.join(timeout=self._timeout * min(waiting, 4) + 1)

    def _drain(self) -> None:
        while True:
            message = self._queue.get()
            if message is _STOP:
                return
            try:
                text = message() if callable(message) else message
                self._post(text)
                self.delivered += 1
            except Exception as err:  # a webhook never stops training; the first failure is reported once
                self.failed += 1
                if self.failed == 1:
                    self._log(
                        f"webhook: a message was not delivered ({_failure(err)}); training goes on, "
                        "later failures are not reported"
                    )

    def _post(self, text: str) -> None:
        assert self._url is not None, "send() posts only when a URL is set"
        request = urllib.request.Request(
            self._url,
            data=payload(text),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": f"ascii-lora/{__version__}"},
        )
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            response.read(1 << 16)
