"""A loopback SMTP sink for the fault tests: accepts every message and counts
it by Message-ID, and can be taken down (the port then refuses connections)
and brought back on the same port."""

import threading
import time
from email.parser import BytesHeaderParser

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "replace")
        headers = BytesHeaderParser().parsebytes(raw)
        self.sink.record((headers.get("Message-ID") or "").strip(), list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port):
        self.port = port
        self._lock = threading.Lock()
        # Message-ID -> arrival times (time.time()), one per copy received.
        self._received = {}
        self._controller = None

    def start(self):
        controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, ready_timeout=10
        )
        controller.start()
        self._controller = controller

    def stop(self):
        """Closes the listening socket: connections are refused until start()."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self):
        return self._controller is not None

    def record(self, message_id, rcpt):
        with self._lock:
            self._received.setdefault(message_id, []).append(time.time())

    def snapshot(self):
        """{Message-ID: [arrival times]} of every message so far."""
        with self._lock:
            return {k: list(v) for k, v in self._received.items()}
