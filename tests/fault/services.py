"""The processes a fault test runs and breaks: a PostgreSQL cluster of its
own (the portal reaches it through DATABASE_URL, as in production) and the
portal itself."""

import glob
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class FaultTestError(Exception):
    """A setup step failed: the test cannot run."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_pg_bindir():
    """The directory holding initdb, pg_ctl and postgres (as the portal looks for them)."""
    candidates = []
    for tool in ("initdb", "pg_ctl"):
        found = shutil.which(tool)
        if found:
            candidates.append(Path(found).resolve().parent)
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(Path(out.stdout.strip()))
    except (OSError, subprocess.CalledProcessError):
        pass
    versioned = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in versioned)
    for d in candidates:
        if all((d / t).is_file() for t in ("initdb", "pg_ctl", "postgres", "psql")):
            return d
    raise FaultTestError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) not found: "
        "apt-get install postgresql"
    )


class Postgres:
    """A cluster in ROOT/pg listening on 127.0.0.1:PORT (and a socket in
    ROOT/pgrun); as root it runs as the `postgres` user, which PostgreSQL
    requires. Durability settings are the defaults (fsync and synchronous
    commit on), so an acknowledged commit must survive an immediate stop."""

    def __init__(self, root: Path, port: int):
        self.bindir = find_pg_bindir()
        self.root = root
        self.data = root / "pg"
        self.run_dir = root / "pgrun"
        self.log = self.run_dir / "postgres.log"
        self.port = port
        self.url = f"postgres://portal@127.0.0.1:{port}/portal"
        self._as = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as e:
                raise FaultTestError(
                    "running as root, and PostgreSQL refuses root, but there is no 'postgres' user "
                    "(apt-get install postgresql creates it)"
                ) from e
            self._as = (pw.pw_uid, pw.pw_gid)

    def _run(self, tool, *args, timeout=120, check=True):
        kwargs = {}
        env = dict(os.environ, LC_ALL="C.UTF-8")
        if self._as:
            kwargs.update(user=self._as[0], group=self._as[1], extra_groups=[])
            env.update(HOME=str(self.run_dir), USER="postgres")
        proc = subprocess.run(
            [str(self.bindir / tool), *args],
            check=False,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )
        if check and proc.returncode != 0:
            raise FaultTestError(
                f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                f"{self.log_tail()}"
            )
        return proc

    def log_tail(self, lines=15):
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\npostgres.log:\n" + "\n".join(text[-lines:])

    def _options(self):
        return (
            f"-p {self.port} -k {self.run_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )

    def init(self):
        for d in (self.data, self.run_dir):
            d.mkdir(mode=0o700)
            if self._as:
                os.chown(d, *self._as)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "portal",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )

    def start(self):
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            self._options(),
            "start",
        )

    def stop(self, mode="fast", check=True):
        return self._run(
            "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=check
        )

    def restart(self, mode):
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-m",
            mode,
            "-w",
            "-t",
            "60",
            "-o",
            self._options(),
            "restart",
        )

    def running(self):
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def create_database(self):
        self.psql("CREATE DATABASE portal", db="postgres")

    def psql(self, sql, db="portal"):
        """Rows of a query, as lists of strings (tab-separated by psql)."""
        proc = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-F",
                "\t",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "portal",
                "-d",
                db,
                "-c",
                sql,
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise FaultTestError(f"psql failed: {proc.stderr.strip()}\n  query: {sql}")
        return [line.split("\t") for line in proc.stdout.splitlines() if line]


class Portal:
    """`portal serve` on a fixed loopback port (appliances keep one URL
    across restarts), all output appended to one log file."""

    def __init__(self, binary, env, port, log_path: Path):
        self.binary = binary
        self.env = env
        self.port = port
        self.log_path = log_path
        self.proc = None
        self.starts = 0

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(
                f"---- start {self.starts + 1} at {time.strftime('%H:%M:%S')} ----\n".encode()
            )
            log.flush()
            self.proc = subprocess.Popen(
                [self.binary, "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL: no chance to finish requests or give mail back."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self):
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def admin(self, *args):
        return self.cli("admin", *args)

    def cli(self, *args, check=True):
        env = dict(self.env, RUST_LOG="warn")
        proc = subprocess.run(
            [self.binary, *args],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise FaultTestError(f"portal {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def log_lines(self, levels=("WARN", "ERROR"), last=30):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        lines = [ANSI.sub("", ln) for ln in lines]
        picked = [ln for ln in lines if any(lv in ln for lv in levels) or ln.startswith("----")]
        return picked[-last:]


def http_json(port, method, path, token=None, body=None, timeout=10):
    """(status, parsed JSON or None) of one request to the portal."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, None
    finally:
        conn.close()


def readyz(port, timeout=2):
    """True when /readyz answers 200."""
    try:
        status, _ = http_json(port, "GET", "/readyz", timeout=timeout)
        return status == 200
    except (OSError, http.client.HTTPException):
        return False
