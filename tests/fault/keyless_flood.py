"""Memory under keyless ingest bodies (issue 12, finding 9).

Starts its own PostgreSQL and `portal serve` (loopback only), measures the
portal's resident memory at idle (the reference), then has CLIENTS clients
at once, each from its own address (X-Forwarded-For through a trusted
proxy, so no per-address limit helps), send ROUNDS bodies of 1 MiB each
that name a site but carry no valid signature. The portal must read a
body whole before its signature can be checked; it holds at most a fixed
budget of body bytes at once, and the rest wait in the kernel.

Prints idle RSS, peak RSS (VmHWM from /proc), their ratio and the answers;
fails if the peak exceeds LIMIT_MB, or if any answer is not a 401 or a
429 (the budget's "send it again").

Usage: scripts/fault-test --flood  (or python tests/fault/keyless_flood.py)
Settings: PORTAL_BIN, FLOOD_CLIENTS (128), FLOOD_ROUNDS (2),
FLOOD_LIMIT_MB (64).
"""

import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from services import FaultTestError, Portal, Postgres, free_port, readyz  # noqa: E402

MIB = 1024 * 1024


def rss_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise FaultTestError(f"no {field} in /proc/{pid}/status")


def body_of(site_id):
    head = f'{{"bundle_id":"FLOOD","site_id":"{site_id}","checked_at":"2026-12-01T00:00:00Z","checks":[],"pad":"'.encode()
    tail = b'"}'
    return head + b"x" * (MIB - len(head) - len(tail)) + tail


def send(port, body, address, answers, lock):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
            head = (
                "POST /api/appliance/evidence HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"X-Agent-Signature: {'00' * 64}\r\n"
                f"X-Forwarded-For: {address}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            s.sendall(head + body)
            reply = b""
            while b"\r\n" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            status = reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "none"
    except OSError as e:
        status = f"error: {e.__class__.__name__}"
    with lock:
        answers[status] += 1


def main():
    binary = os.environ.get("PORTAL_BIN", "./target/debug/portal")
    clients = int(os.environ.get("FLOOD_CLIENTS", "128"))
    rounds = int(os.environ.get("FLOOD_ROUNDS", "2"))
    limit_mb = float(os.environ.get("FLOOD_LIMIT_MB", "64"))
    work = Path(tempfile.mkdtemp(prefix="portal-flood.", dir=os.environ.get("TMPDIR", "/tmp")))
    os.chmod(work, 0o755)
    pg = Postgres(work, free_port())
    pg.init()
    pg.start()
    pg.create_database()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {
            "DATABASE_URL": pg.url,
            "PORTAL_DATA_DIR": str(work / "data"),
            "PORTAL_BIND": f"127.0.0.1:{port}",
            "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
            "RUST_LOG": "warn",
        }
    )
    portal = Portal(binary, env, port, work / "portal.log")
    portal.start()
    failed = []
    try:
        deadline = time.time() + 120
        while not readyz(port):
            if time.time() > deadline or not portal.alive():
                raise FaultTestError("the portal did not become ready within 120 s")
            time.sleep(0.1)
        pid = portal.proc.pid
        idle = rss_kb(pid, "VmRSS")
        body = body_of(uuid.uuid4())
        answers, lock = Counter(), threading.Lock()
        started = time.time()
        for r in range(rounds):
            threads = [
                threading.Thread(
                    target=send,
                    args=(port, body, f"198.18.{i // 250}.{i % 250 + 1}", answers, lock),
                )
                for i in range(clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        wall = time.time() - started
        peak = rss_kb(pid, "VmHWM")
        after = rss_kb(pid, "VmRSS")
        print(
            f"keyless flood: {clients} clients x {rounds} rounds of 1 MiB bodies in {wall:.1f} s; "
            f"answers {dict(sorted(answers.items()))}"
        )
        print(
            f"  RSS idle {idle / 1024:.1f} MB (reference), peak {peak / 1024:.1f} MB "
            f"({peak / idle:.2f}x idle), after {after / 1024:.1f} MB; limit {limit_mb:g} MB"
        )
        if peak / 1024 > limit_mb:
            failed.append(f"peak RSS {peak / 1024:.1f} MB is over {limit_mb:g} MB")
        wrong = {k: v for k, v in answers.items() if k not in ("401", "429")}
        if wrong:
            failed.append(f"answers other than 401 or 429: {wrong}")
        if answers["401"] == 0:
            failed.append("no body reached its signature check, so nothing was measured")
    finally:
        portal.stop()
        pg.stop(check=False)
    if failed:
        print("keyless flood: FAILED: " + "; ".join(failed) + f" (work dir {work})")
        return 1
    print("keyless flood: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
