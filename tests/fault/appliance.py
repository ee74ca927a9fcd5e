"""Appliances for the fault tests: one thread per site that signs and pushes
evidence bundles (format v1) to POST /api/appliance/evidence, one at a
time, and like a real appliance resends a bundle that was not acknowledged
(the same bytes: an identical resend answers 200 with the original receipt)
until it is. Every 2xx receipt is kept, so the test can check afterwards
that each acknowledged bundle is stored exactly as the receipt said."""

import hashlib
import http.client
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CHECKS = [
    ("bitlocker_status", "164.312(a)(2)(iv)"),
    ("firewall_status", "164.312(e)(1)"),
    ("patch_status", "164.308(a)(1)(ii)(B)"),
    ("screen_lock", "164.312(a)(2)(iii)"),
]
# Fails in every MAIL_EVERY-th bundle of a site and passes otherwise: each
# failure is a fresh pass -> fail transition, so the portal emails a
# critical alert to the practice's owner for it.
PROBE = ("backup_status", "164.308(a)(7)(ii)(A)")

RETRY_FIRST = 0.05
RETRY_MAX = 0.25
REQUEST_TIMEOUT = 20


@dataclass
class Receipt:
    bundle_id: str
    chain_position: int
    bundle_hash: str
    chain_hash: str
    status: int
    acked_at: float
    attempts: int


@dataclass
class Stats:
    """What one site's appliance did during one scenario."""

    generated: int = 0
    requests: int = 0
    acked: int = 0
    acked_on_resend_200: int = 0
    errors: Counter = field(default_factory=Counter)
    ack_times: list = field(default_factory=list)
    abandoned: list = field(default_factory=list)
    mail_bundles: int = 0
    fatal: str | None = None


def _now_rfc3339():
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Appliance:
    def __init__(self, index, port, run_tag, mail_every):
        self.index = index
        self.name = f"Fault Clinic {index}"
        self.port = port
        self.run_tag = run_tag
        self.mail_every = mail_every
        self.key = Ed25519PrivateKey.generate()
        self.public_hex = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        self.site_id = None
        self.seq = 0
        self.pending = None  # (bundle_id, body, signature hex, attempts)
        self.receipts = {}  # bundle_id -> Receipt, every scenario
        self.abandoned = set()  # bundle ids sent but never acknowledged
        self.stats = Stats()
        self.stop_new = threading.Event()
        self.deadline = float("inf")  # time.time() after which the thread gives up
        self._thread = None
        self._conn = None

    def _bundle(self):
        seq = self.seq
        self.seq += 1
        probe_fails = self.mail_every > 0 and seq % self.mail_every == self.mail_every - 1
        checks = [
            {
                "check": c,
                "status": "pass",
                "host": "FT-WS-01",
                "hipaa_control": ctl,
                "details": {"seq": seq},
            }
            for c, ctl in CHECKS
        ]
        checks.append(
            {
                "check": PROBE[0],
                "status": "fail" if probe_fails else "pass",
                "host": "FT-NAS-01",
                "hipaa_control": PROBE[1],
                "details": {},
            }
        )
        failed = 1 if probe_fails else 0
        bundle_id = f"FT-{self.run_tag}-{self.index:02d}-{seq:08d}"
        body = json.dumps(
            {
                "bundle_id": bundle_id,
                "site_id": self.site_id,
                "checked_at": _now_rfc3339(),
                "checks": checks,
                "summary": {
                    "total_checks": len(checks),
                    "compliant": len(checks) - failed,
                    "non_compliant": failed,
                    "errors": 0,
                },
            },
            separators=(",", ":"),
        ).encode()
        if probe_fails:
            self.stats.mail_bundles += 1
        return [bundle_id, body, self.key.sign(body).hex(), 0]

    def start(self):
        self.stats = Stats()
        self.stop_new.clear()
        self.deadline = float("inf")
        self._thread = threading.Thread(
            target=self._run, name=f"appliance-{self.index}", daemon=True
        )
        self._thread.start()

    def stop(self, drain_until):
        """No new bundles; the one in flight is resent until acknowledged or
        drain_until (time.time())."""
        self.deadline = drain_until
        self.stop_new.set()

    def join(self, timeout):
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self):
        delay = RETRY_FIRST
        stats = self.stats
        try:
            while True:
                if self.pending is None:
                    if self.stop_new.is_set():
                        break
                    self.pending = self._bundle()
                    stats.generated += 1
                if time.time() > self.deadline:
                    break
                bundle_id, body, signature, _ = self.pending
                self.pending[3] += 1
                stats.requests += 1
                try:
                    if self._conn is None:
                        self._conn = http.client.HTTPConnection(
                            "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT
                        )
                    self._conn.request(
                        "POST",
                        "/api/appliance/evidence",
                        body=body,
                        headers={
                            "Content-Type": "application/json",
                            "X-Agent-Signature": signature,
                            "User-Agent": "osiris-fault-test-appliance",
                        },
                    )
                    resp = self._conn.getresponse()
                    raw = resp.read()
                    status = resp.status
                    if resp.will_close:
                        self._close()
                except (OSError, http.client.HTTPException) as e:
                    self._close()
                    stats.errors[_classify(e)] += 1
                    time.sleep(delay)  # client retry backoff
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                if status in (200, 201):
                    self._acknowledged(bundle_id, body, status, raw)
                    delay = RETRY_FIRST
                    continue
                if status == 429:
                    stats.errors["http 429"] += 1
                    try:
                        wait = float(resp.getheader("Retry-After") or 1)
                    except ValueError:
                        wait = 1.0
                    time.sleep(min(max(wait, 0.1), 5.0))
                    continue
                if status >= 500:
                    stats.errors[f"http {status}"] += 1
                    time.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                # 400, 401, 403, 409, 413, 415: resending will not help; an
                # appliance would alert its operator.
                stats.fatal = (
                    f"bundle {bundle_id} refused with {status}: "
                    f"{raw[:300].decode(errors='replace')}"
                )
                break
        except Exception as e:  # noqa: BLE001 - reported as the scenario's failure
            stats.fatal = f"appliance thread crashed: {e!r}"
        finally:
            self._close()
            if self.pending is not None:
                self.abandoned.add(self.pending[0])
                stats.abandoned.append(self.pending[0])
                self.pending = None

    def _acknowledged(self, bundle_id, body, status, raw):
        stats = self.stats
        try:
            r = json.loads(raw)
            receipt = Receipt(
                bundle_id=r["bundle_id"],
                chain_position=int(r["chain_position"]),
                bundle_hash=r["bundle_hash"],
                chain_hash=r["chain_hash"],
                status=status,
                acked_at=time.time(),
                attempts=self.pending[3],
            )
        except (ValueError, KeyError, TypeError) as e:
            stats.fatal = f"bundle {bundle_id}: unreadable {status} receipt ({e}): {raw[:200]!r}"
            raise
        if (
            receipt.bundle_id != bundle_id
            or receipt.bundle_hash != hashlib.sha256(body).hexdigest()
        ):
            stats.fatal = f"bundle {bundle_id}: the receipt names other bytes: {raw[:300]!r}"
            raise RuntimeError(stats.fatal)
        self.receipts[bundle_id] = receipt
        self.pending = None
        stats.acked += 1
        if status == 200:
            stats.acked_on_resend_200 += 1
        stats.ack_times.append((receipt.acked_at, bundle_id))


def _classify(e):
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        return "connection reset/closed"
    return type(e).__name__


class Fleet:
    def __init__(self, appliances):
        self.appliances = appliances

    def start(self):
        for a in self.appliances:
            a.start()

    def stop(self, drain_seconds):
        until = time.time() + drain_seconds
        for a in self.appliances:
            a.stop(until)
        stuck = [a.name for a in self.appliances if not a.join(drain_seconds + REQUEST_TIMEOUT + 5)]
        return stuck

    def first_ack_after(self, t):
        times = [at for a in self.appliances for at, _ in list(a.stats.ack_times) if at >= t]
        return min(times) if times else None

    def last_ack_before(self, t):
        """(appliance, bundle_id) of each site's last acknowledgement before t."""
        out = []
        for a in self.appliances:
            before = [(at, b) for at, b in list(a.stats.ack_times) if at < t]
            if before:
                out.append((a, max(before)[1]))
        return out

    def first_ack_after_each(self, t):
        out = []
        for a in self.appliances:
            after = [(at, b) for at, b in list(a.stats.ack_times) if at >= t]
            if after:
                out.append((a, min(after)[1]))
        return out
