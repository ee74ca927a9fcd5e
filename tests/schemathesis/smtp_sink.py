"""A loopback SMTP sink for scripts/api-checks, so the checks can read the
portal's mail (sign-in links, invitations) as a user would.

    python smtp_sink.py DIR PORT_FILE   # serve until killed

Listens on 127.0.0.1 (a port the OS picks, written to PORT_FILE once it
accepts connections), speaks just enough plain SMTP for the portal's
client (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH)
and writes each message to DIR/NNNNNN.eml (written aside and renamed, so
a reader never sees half a message).

`wait_for_link(dir, to, path, seen)` is the reader: the token of the
first link to PATH in a message to TO that is not among the `seen` files.
"""

import asyncio
import email
import email.policy
import os
import re
import sys
import time
from pathlib import Path


class Sink:
    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0

    def store(self, data: bytes) -> None:
        self.count += 1
        name = f"{self.count:06d}.eml"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.directory / name)

    async def session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        reply("220 api-checks mailbox ESMTP")
        try:
            while True:
                await writer.drain()
                line = await reader.readline()
                if not line:
                    return
                verb = line.decode("latin-1").strip().split(" ", 1)[0].upper()
                if verb == "EHLO":
                    reply("250-api-checks mailbox")
                    reply("250 8BITMIME")
                elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                    reply("250 OK")
                elif verb == "DATA":
                    reply("354 end with <CRLF>.<CRLF>")
                    await writer.drain()
                    lines = []
                    while True:
                        chunk = await reader.readline()
                        if not chunk or chunk in (b".\r\n", b".\n"):
                            break
                        # Undo dot-stuffing (RFC 5321 §4.5.2).
                        lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    self.store(b"".join(lines))
                    reply("250 OK: stored")
                elif verb == "QUIT":
                    reply("221 bye")
                    await writer.drain()
                    return
                else:
                    reply("502 not implemented")
        except ConnectionError:
            pass
        finally:
            writer.close()


async def serve(directory: Path, port_file: Path) -> None:
    sink = Sink(directory)
    server = await asyncio.start_server(sink.session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tmp = port_file.with_name(port_file.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, port_file)
    async with server:
        await server.serve_forever()


def messages(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


def text_of(path: Path) -> tuple[list[str], str]:
    """The recipients and the decoded text of every text part."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    recipients = [
        a.addr_spec.lower()
        for h in ("To", "Cc")
        for a in getattr(msg.get(h), "addresses", ())
    ]
    parts = [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
    return recipients, "\n".join(parts)


def wait_for_link(
    directory: Path, to: str, path: str, seen: set[str], timeout: float = 30.0
) -> str:
    """The token of a link to `path` (e.g. /client/verify) mailed to `to`
    in a message not in `seen` (names of messages already read, updated)."""
    pattern = re.compile(re.escape(path) + r"\?token=([A-Za-z0-9_\-.~%]+)")
    deadline = time.monotonic() + timeout
    while True:
        for message in messages(directory):
            if message.name in seen:
                continue
            recipients, text = text_of(message)
            if to.lower() in recipients:
                found = pattern.search(text)
                if found:
                    seen.add(message.name)
                    return found.group(1)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no mail to {to} with a {path} link within {timeout:.0f} s"
            )
        # Polling for the mail's arrival (the portal sends it from its outbox worker).
        time.sleep(0.05)


if __name__ == "__main__":
    target, port_path = Path(sys.argv[1]), Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(serve(target, port_path))
    except KeyboardInterrupt:
        pass
