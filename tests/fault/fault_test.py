"""Bounded fault tests of a live portal, on loopback only (run by
scripts/fault-test; see there for the settings).

One PostgreSQL cluster (reached through DATABASE_URL, as in production),
one `portal serve`, a loopback SMTP sink and a fleet of appliances, one
thread per site, pushing signed bundles throughout. Scenarios, in order,
each with load before and after the fault:

  pg-restart-fast       PostgreSQL stopped with -m fast, then started
  pg-restart-immediate  PostgreSQL stopped with -m immediate (crash
                        recovery on start), then started
  portal-sigkill        the portal killed with SIGKILL, then started again
  smtp-outage           the SMTP server down (port refusing) for a while,
                        then back

After each: every bundle that got a 2xx receipt is in the database with the
receipt's position and hashes and visible through the API; every site's
chain verifies (`portal verify-chain --site`); /readyz answered 200 within
FAULT_READY_WITHIN seconds of the fault's end and ingest resumed as soon;
every mail queued in the scenario (critical alerts raised by failing
checks) reached the SMTP sink exactly once (by Message-ID) within
FAULT_MAIL_DEADLINE seconds of being queued or of the fault's end. At the
end the practice's evidence log is verified through the API.
"""

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from appliance import Appliance, Fleet
from services import FaultTestError, Portal, Postgres, free_port, http_json, readyz
from smtp_sink import SmtpSink

# A claimed mail that has not moved for this long is taken as abandoned.
STUCK_SECONDS = 15

# PORTAL_ALERT_INTERVAL given to the portal, in seconds.
ALERT_INTERVAL = 2

SCENARIOS = ["pg-restart-fast", "pg-restart-immediate", "portal-sigkill", "smtp-outage"]


def _num(name, ci, long, is_long):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return long if is_long else ci
    try:
        value = float(raw)
    except ValueError:
        sys.exit(f"fault-test: {name}={raw!r} is not a number")
    if value < 0:
        sys.exit(f"fault-test: {name} must not be negative")
    return value


class Config:
    def __init__(self, argv):
        self.long = "--long" in argv
        unknown = [a for a in argv if a != "--long"]
        if unknown:
            sys.exit(f"fault-test: unknown argument(s) {' '.join(unknown)} (only --long)")
        L = self.long
        self.binary = os.environ.get("PORTAL_BIN") or "./target/debug/portal"
        # Load before each fault and again after recovery.
        self.seconds = _num("FAULT_SECONDS", 3, 60, L)
        # How long PostgreSQL stays down (0: `pg_ctl restart`).
        self.pg_down = _num("FAULT_PG_DOWN", 2, 20, L)
        # How long the killed portal stays down before it is started again.
        self.kill_down = _num("FAULT_KILL_DOWN", 0, 5, L)
        self.smtp_down = _num("FAULT_SMTP_DOWN", 10, 120, L)
        self.sites = int(_num("FAULT_SITES", 4, 8, L))
        self.mail_every = int(_num("FAULT_MAIL_EVERY", 20, 20, L))
        self.ready_within = _num("FAULT_READY_WITHIN", 20, 20, L)
        self.mail_deadline = _num("FAULT_MAIL_DEADLINE", 60, 60, L)
        self.drain = _num("FAULT_DRAIN", 30, 60, L)
        self.keep = os.environ.get("FAULT_KEEP", "") not in ("", "0")
        self.report = os.environ.get("FAULT_REPORT")
        wanted = os.environ.get("FAULT_SCENARIOS", "")
        self.scenarios = [s.strip() for s in wanted.split(",") if s.strip()] or list(SCENARIOS)
        for s in self.scenarios:
            if s not in SCENARIOS:
                sys.exit(
                    f"fault-test: unknown scenario {s!r} in FAULT_SCENARIOS; "
                    f"choose from {', '.join(SCENARIOS)}"
                )
        if self.sites < 1:
            sys.exit("fault-test: FAULT_SITES must be at least 1")
        # A hard bound on the whole run, whatever happens.
        per = 2 * self.seconds + self.drain + self.mail_deadline + 120
        per_fault = {
            "pg-restart-fast": self.pg_down,
            "pg-restart-immediate": self.pg_down,
            "portal-sigkill": self.kill_down + 60,
            "smtp-outage": self.smtp_down,
        }
        self.max_seconds = int(
            _num(
                "FAULT_MAX_SECONDS",
                180 + sum(per + per_fault[s] for s in self.scenarios),
                180 + sum(per + per_fault[s] for s in self.scenarios),
                L,
            )
        )


def say(msg):
    print(f"\033[1;36m==>\033[0m {msg}", file=sys.stderr, flush=True)


def fmt_s(v):
    return "n/a" if v is None else f"{v:.2f} s"


class Run:
    def __init__(self, cfg):
        self.cfg = cfg
        self.results = []
        self.failures = []
        self.work = None
        self.pg = None
        self.sink = None
        self.portal = None
        self.fleet = None
        self.run_tag = format(int(time.time()) % 0xFFFFFF, "06x")

    # ------------------------------------------------------------------ setup

    def setup(self):
        cfg = self.cfg
        if not os.access(cfg.binary, os.X_OK):
            raise FaultTestError(f"no portal binary at {cfg.binary}: build it or set PORTAL_BIN")
        self.work = Path(
            tempfile.mkdtemp(prefix="portal-fault-test.", dir=os.environ.get("TMPDIR", "/tmp"))
        )
        os.chmod(self.work, 0o755)  # PostgreSQL's own user must reach its directories
        say(f"work dir {self.work}")
        self.pg = Postgres(self.work, free_port())
        t = time.time()
        self.pg.init()
        self.pg.start()
        self.pg.create_database()
        say(f"PostgreSQL {self.pg.bindir} on 127.0.0.1:{self.pg.port} in {time.time() - t:.1f} s")
        self.sink = SmtpSink(free_port())
        self.sink.start()
        self.http_port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PORTAL_") and k not in ("DATABASE_URL", "RUST_LOG")
        }
        env.update(
            {
                "DATABASE_URL": self.pg.url,
                "PORTAL_DATA_DIR": str(self.work / "data"),
                "PORTAL_BIND": f"127.0.0.1:{self.http_port}",
                "PORTAL_SMTP_HOST": "127.0.0.1",
                "PORTAL_SMTP_PORT": str(self.sink.port),
                "PORTAL_SMTP_TLS": "none",
                "PORTAL_SMTP_FROM": "OsirisCare Fault Test <portal@fault-test.example>",
                # Throughput, not the per-site limit, is under test.
                "PORTAL_INGEST_PER_SITE": "0",
                # Alert emails per site are spaced by this interval (60 s
                # by default); short here so alerts keep being queued
                # through a short outage.
                "PORTAL_ALERT_INTERVAL": f"{ALERT_INTERVAL}s",
                "RUST_LOG": "warn,portal::mail=info",
            }
        )
        self.portal = Portal(cfg.binary, env, self.http_port, self.work / "portal.log")
        t = time.time()
        self.portal.start()
        if self.wait_ready(time.time() + 120) is None:
            raise FaultTestError(
                "the portal did not answer /readyz within 120 s:\n"
                + "\n".join(self.portal.log_lines(levels=("",)))
            )
        say(
            f"portal {cfg.binary} at http://127.0.0.1:{self.http_port} "
            f"ready in {time.time() - t:.1f} s; SMTP sink at 127.0.0.1:{self.sink.port}"
        )
        org = self.portal.admin(
            "create-org", "--name", "Fault Test Clinic", "--email", "office@fault-test.example"
        ).stdout.strip()
        owner = self.portal.admin(
            "create-user",
            "--org",
            org,
            "--email",
            "owner@fault-test.example",
            "--role",
            "owner",
            "--name",
            "Fault Owner",
        ).stdout.strip()
        self.token = self.portal.admin(
            "create-api-token", "--user", owner, "--name", "fault-test"
        ).stdout.strip()
        appliances = []
        for i in range(1, cfg.sites + 1):
            a = Appliance(i, self.http_port, self.run_tag, cfg.mail_every)
            a.site_id = self.portal.admin(
                "create-site", "--org", org, "--name", a.name, "--public-key", a.public_hex
            ).stdout.strip()
            appliances.append(a)
        self.fleet = Fleet(appliances)
        say(f"practice {org} with {cfg.sites} sites, each one appliance thread")

    def wait_ready(self, deadline, interval=0.02):
        """Time of the first 200 from /readyz, polling until deadline; None if none."""
        while True:
            if readyz(self.http_port, timeout=1):
                return time.time()
            if time.time() >= deadline:
                return None
            time.sleep(interval)

    # ----------------------------------------------------------------- faults

    def fault_pg(self, mode):
        start = time.time()
        if self.cfg.pg_down > 0:
            self.pg.stop(mode)
            stopped = time.time()
            time.sleep(self.cfg.pg_down)  # the outage itself
            self.pg.start()
            how = (
                f"PostgreSQL stopped (pg_ctl stop -m {mode}, {stopped - start:.2f} s), "
                f"kept down {self.cfg.pg_down:g} s, started"
            )
        else:
            self.pg.restart(mode)
            how = f"PostgreSQL restarted (pg_ctl restart -m {mode})"
        return start, time.time(), how

    def fault_kill(self):
        start = time.time()
        self.portal.kill()
        if self.cfg.kill_down > 0:
            time.sleep(self.cfg.kill_down)  # the outage itself
        self.portal.start()
        return (
            start,
            time.time(),
            (f"portal killed with SIGKILL, started again after {self.cfg.kill_down:g} s"),
        )

    def fault_smtp(self):
        start = time.time()
        self.sink.stop()
        time.sleep(self.cfg.smtp_down)  # the outage itself: the port refuses
        self.sink.start()
        return start, time.time(), f"SMTP server down (port refusing) for {self.cfg.smtp_down:g} s"

    # --------------------------------------------------------------- scenario

    def scenario(self, name):
        cfg = self.cfg
        res = {"scenario": name, "failures": []}
        fail = res["failures"].append
        say(f"{name}: {cfg.seconds:g} s of load, the fault, recovery, {cfg.seconds:g} s of load")
        started = time.time()
        self.fleet.start()
        time.sleep(cfg.seconds)  # load before the fault
        fault = {
            "pg-restart-fast": lambda: self.fault_pg("fast"),
            "pg-restart-immediate": lambda: self.fault_pg("immediate"),
            "portal-sigkill": self.fault_kill,
            "smtp-outage": self.fault_smtp,
        }[name]
        f_start, f_end, how = fault()
        res.update(fault=how, fault_seconds=round(f_end - f_start, 3))
        ready_at = self.wait_ready(f_end + cfg.ready_within)
        res["recovery_readyz_s"] = None if ready_at is None else round(max(ready_at - f_end, 0), 3)
        if ready_at is None:
            fail(f"/readyz did not answer 200 within {cfg.ready_within:g} s of the fault's end")
        first = None
        while first is None and time.time() < f_end + cfg.ready_within:
            first = self.fleet.first_ack_after(f_end)
            if first is None:
                time.sleep(0.02)
        res["recovery_first_ingest_s"] = None if first is None else round(first - f_end, 3)
        if first is None:
            fail(f"no bundle was acknowledged within {cfg.ready_within:g} s of the fault's end")
        time.sleep(cfg.seconds)  # load after recovery
        stuck = self.fleet.stop(cfg.drain)
        ended = time.time()
        if stuck:
            fail(f"appliance threads did not stop: {', '.join(stuck)}")

        stats = [a.stats for a in self.fleet.appliances]
        errors = Counter()
        for s in stats:
            errors.update(s.errors)
            if s.fatal:
                fail(f"an appliance stopped: {s.fatal}")
        acked = sum(s.acked for s in stats)
        res.update(
            load_seconds=round(ended - started, 1),
            bundles_sent=sum(s.generated for s in stats),
            requests=sum(s.requests for s in stats),
            acknowledged=acked,
            acknowledged_on_resend=sum(s.acked_on_resend_200 for s in stats),
            unacknowledged=sum(len(s.abandoned) for s in stats),
            client_errors=dict(errors),
            ingest_rate=round(acked / max(ended - started, 1e-9), 1),
        )
        if res["unacknowledged"]:
            fail(
                f"{res['unacknowledged']} bundle(s) still not acknowledged {cfg.drain:g} s "
                "after the load stopped"
            )
        try:
            self.check_evidence(res, f_start, f_end)
            self.check_chains(res)
            self.check_mail(res, started, f_start, f_end, name == "smtp-outage")
        except FaultTestError as e:
            fail(str(e))
        res["result"] = "FAIL" if res["failures"] else "PASS"
        self.results.append(res)
        self.print_scenario(res)
        for msg in res["failures"]:
            self.failures.append(f"{name}: {msg}")
        if res["failures"]:
            since = self._iso(started)
            lines = [
                ln
                for ln in self.portal.log_lines(last=100000)
                if ln.startswith("----")
                or (ln.split(" ")[0] >= since and (" ERROR" in ln or "mail" in ln))
            ]
            retries = [ln for ln in lines if "will retry" in ln]
            lines = [ln for ln in lines if "will retry" not in ln]
            if lines or retries:
                print("   portal log during the scenario (errors, mail warnings):", flush=True)
                for ln in lines[-10:]:
                    print(f"     {ln[:300]}", flush=True)
                if retries:
                    print(
                        f"     (and {len(retries)} 'mail not delivered yet; will retry' warnings, "
                        f"the last: {retries[-1][:200]})",
                        flush=True,
                    )

    @staticmethod
    def _iso(t):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))

    # ----------------------------------------------------------------- checks

    def check_evidence(self, res, f_start, f_end):
        """Every acknowledged bundle (of every scenario so far) is stored as
        its receipt says, and visible through the API."""
        fail = res["failures"].append
        rows = self.pg.psql(
            "SELECT site_id, bundle_id, chain_position, encode(bundle_hash, 'hex'), "
            "encode(chain_hash, 'hex') FROM evidence_bundles "
            f"WHERE bundle_id LIKE 'FT-{self.run_tag}-%'"
        )
        stored = {r[1]: r for r in rows}
        per_site = Counter(r[0] for r in rows)
        lost, wrong, extra = [], [], []
        for a in self.fleet.appliances:
            for bid, rc in a.receipts.items():
                row = stored.get(bid)
                if row is None:
                    lost.append(bid)
                elif (row[0], int(row[2]), row[3], row[4]) != (
                    a.site_id,
                    rc.chain_position,
                    rc.bundle_hash,
                    rc.chain_hash,
                ):
                    wrong.append(bid)
        known = {bid for a in self.fleet.appliances for bid in a.receipts}
        abandoned = {bid for a in self.fleet.appliances for bid in a.abandoned}
        for bid in stored:
            if bid not in known:
                extra.append(bid)
        res["lost"] = len(lost)
        res["stored_differently"] = len(wrong)
        res["stored_unacknowledged"] = len(extra)
        if lost:
            fail(f"{len(lost)} acknowledged bundle(s) are not in the database, e.g. {lost[:3]}")
        if wrong:
            fail(
                f"{len(wrong)} acknowledged bundle(s) are stored with another position or hash "
                f"than their receipt, e.g. {wrong[:3]}"
            )
        strays = [b for b in extra if b not in abandoned]
        if strays:
            fail(f"{len(strays)} stored bundle(s) were never sent to completion, e.g. {strays[:3]}")
        # Through the API: each site's count, and the bundles acknowledged
        # just before and just after the fault.
        api_bad = []
        for a in self.fleet.appliances:
            status, body = http_json(
                self.http_port, "GET", f"/api/client/sites/{a.site_id}", token=self.token
            )
            if status != 200 or body.get("evidence_count") != per_site.get(a.site_id, 0):
                api_bad.append(
                    f"site {a.name}: {status} evidence_count="
                    f"{(body or {}).get('evidence_count')} (database: "
                    f"{per_site.get(a.site_id, 0)})"
                )
        samples = self.fleet.last_ack_before(f_start) + self.fleet.first_ack_after_each(f_end)
        for a, bid in samples:
            rc = a.receipts[bid]
            status, body = http_json(
                self.http_port,
                "GET",
                f"/api/client/evidence/{bid}?site_id={a.site_id}",
                token=self.token,
            )
            if status != 200 or (body.get("chain_position"), body.get("chain_hash")) != (
                rc.chain_position,
                rc.chain_hash,
            ):
                api_bad.append(f"bundle {bid}: {status} {str(body)[:160]}")
        res["api_bundles_checked"] = len(samples)
        if api_bad:
            fail(
                "the API does not show acknowledged evidence as received: " + "; ".join(api_bad[:4])
            )
        self._per_site = per_site

    def check_chains(self, res):
        fail = res["failures"].append
        links = 0
        t = time.time()
        for a in self.fleet.appliances:
            proc = self.portal.cli("verify-chain", "--site", a.site_id, check=False)
            out = proc.stdout.strip()
            expected = self._per_site.get(a.site_id, 0)
            if proc.returncode != 0:
                fail(
                    f"portal verify-chain --site {a.site_id} ({a.name}) exited "
                    f"{proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1]}"
                )
            elif f"is valid: {expected} link(s)" not in out:
                fail(
                    f"portal verify-chain --site {a.site_id}: {out!r}, but the site has "
                    f"{expected} bundle(s)"
                )
            links += expected
        res["chains_verified"] = len(self.fleet.appliances)
        res["chain_links"] = links
        res["verify_seconds"] = round(time.time() - t, 2)

    def check_mail(self, res, started, f_start, f_end, outage):
        """Every mail queued in this scenario reaches the sink exactly once,
        within the deadline of max(queued, fault end) + FAULT_MAIL_DEADLINE,
        and the outbox says sent."""
        cfg = self.cfg
        fail = res["failures"].append

        def due(created):
            # An alert email may be queued to go out one alert interval
            # after the previous one of its site, never later.
            return max(created + ALERT_INTERVAL, f_end) + cfg.mail_deadline

        # Polls until every mail is delivered and marked sent, or its
        # deadline has passed, or every one still waiting has sat claimed
        # ('sending') without progress for STUCK_SECONDS under a claim that
        # outlasts its deadline: no worker may take it before then.
        stuck_since = {}
        while True:
            rows = self.pg.psql(
                "SELECT id, extract(epoch FROM created_at), status, attempts, "
                "coalesce(last_error, ''), coalesce(extract(epoch FROM locked_until), 0), "
                "extract(epoch FROM next_attempt_at) FROM email_outbox "
                f"WHERE created_at >= to_timestamp({started}) ORDER BY created_at"
            )
            seen = self._sink_by_id()
            now = time.time()
            waiting = [
                r for r in rows if not (r[0] in seen and r[2] == "sent") and r[2] != "failed"
            ]
            if not waiting or now > max(due(float(r[1])) for r in waiting):
                break
            hopeless = True
            for r in waiting:
                key = (r[2], r[5])
                prev = stuck_since.get(r[0])
                if r[2] != "sending" or float(r[5]) <= due(float(r[1])):
                    hopeless = False
                    stuck_since.pop(r[0], None)
                elif prev is None or prev[0] != key:
                    stuck_since[r[0]] = (key, now)
                    hopeless = False
                elif now - prev[1] < STUCK_SECONDS:
                    hopeless = False
            if hopeless:
                break
            time.sleep(0.25)
        queued = len(rows)
        delivered = duplicated = late = 0
        undelivered, orphaned, claimed, phantom, gave_up = [], [], [], [], []
        outage_delays = []
        outage_count = 0
        slowest = 0.0
        now = time.time()
        for mail_id, created, status, attempts, error, locked, next_at in rows:
            created = float(created)
            arrivals = seen.get(mail_id, [])
            # Waiting while SMTP was down: queued before it came back and not
            # delivered before it went (an alert queued earlier takes in the
            # failures of the outage, so few new mails are queued during it).
            in_outage = (
                outage and created <= f_end and (not arrivals or min(arrivals) >= f_start)
            )
            outage_count += in_outage
            if arrivals:
                delivered += 1
                duplicated += len(arrivals) - 1
                slowest = max(slowest, min(arrivals) - max(created, f_end))
                if min(arrivals) > due(created):
                    late += 1
                if in_outage:
                    outage_delays.append(min(arrivals) - f_end)
                if status != "sent":
                    claimed.append(
                        f"{mail_id} ({status}, claimed for {float(locked) - now:.0f} s more)"
                    )
            else:
                if status == "sent":
                    phantom.append(mail_id)
                elif status == "failed":
                    gave_up.append(f"{mail_id} ({error[:80]})")
                elif status == "sending":
                    orphaned.append(f"{mail_id} (claimed for {float(locked) - now:.0f} s more)")
                else:
                    undelivered.append(
                        f"{mail_id} ({status}, {attempts} attempt(s), next attempt in "
                        f"{float(next_at) - now:.0f} s"
                        + (f", last error: {error[:70]}" if error else "")
                        + ")"
                    )
        res.update(
            mail_slowest_s=round(slowest, 2) if delivered else None,
            mails_queued=queued,
            mails_delivered=delivered,
            mails_duplicated=duplicated,
            mails_undelivered=len(undelivered) + len(orphaned) + len(gave_up) + len(phantom),
        )
        if outage:
            res["mails_queued_while_smtp_down"] = outage_count
            res["mail_delivery_after_smtp_back_first_s"] = (
                round(min(outage_delays), 2) if outage_delays else None
            )
            res["mail_delivery_after_smtp_back_all_s"] = (
                round(max(outage_delays), 2)
                if outage_delays and len(outage_delays) == outage_count
                else None
            )
            if outage_count == 0:
                fail(
                    "no mail was waiting while SMTP was down, so nothing was tested: "
                    "lengthen FAULT_SMTP_DOWN or lower FAULT_MAIL_EVERY"
                )
        if res.get("scenario") == "portal-sigkill" and len(claimed) + len(orphaned) <= 1:
            # SIGKILL can land between the SMTP server taking a message and
            # the outbox recording it (or just before the send): no process
            # can close that window. The portal claims one message at a time,
            # so at most that one waits out its lease, then goes (again, with
            # the same Message-ID). Reported, not failed.
            res["mails_in_flight_at_kill"] = len(claimed) + len(orphaned)
            claimed, orphaned = [], []
        if duplicated:
            fail(f"{duplicated} duplicate delivery(ies) at the SMTP server (same Message-ID)")
        if orphaned:
            fail(
                f"{len(orphaned)} of {queued} mail(s) never delivered: left claimed ('sending') "
                f"by a delivery pass that did not finish, with no progress for {STUCK_SECONDS} s; "
                "no worker takes them before their lease runs out, past the "
                f"{cfg.mail_deadline:g} s deadline, e.g. " + "; ".join(orphaned[:3])
            )
        if undelivered:
            fail(
                f"{len(undelivered)} of {queued} mail(s) not delivered within "
                f"{cfg.mail_deadline:g} s (of being queued or of the fault's end), e.g. "
                + "; ".join(undelivered[:3])
            )
        if late:
            fail(
                f"{late} mail(s) delivered later than {cfg.mail_deadline:g} s after being "
                "queued or after the fault's end"
            )
        if claimed:
            fail(
                f"{len(claimed)} mail(s) reached the SMTP server but the outbox does not say sent, "
                "so they will be sent again once their lease runs out (a duplicate), e.g. "
                + "; ".join(claimed[:3])
            )
        if phantom:
            fail(
                f"{len(phantom)} mail(s) are marked sent but never reached the SMTP server, "
                f"e.g. {phantom[:3]}"
            )
        if gave_up:
            fail(f"{len(gave_up)} mail(s) were given up on, e.g. {gave_up[:3]}")

    def _sink_by_id(self):
        out = {}
        for mid, times in self.sink.snapshot().items():
            key = mid.strip("<>").split("@", 1)[0]
            out.setdefault(key, []).extend(times)
        return out

    def final_checks(self):
        """Across the whole run: no Message-ID twice, and the practice's
        evidence log verifies (leaves against bundles, signed checkpoints)."""
        res = {"scenario": "whole run", "failures": []}
        rows = self.pg.psql("SELECT id, status FROM email_outbox")
        seen = self._sink_by_id()
        dups = sum(len(seen.get(r[0], [])) - 1 for r in rows if seen.get(r[0]))
        res.update(
            mails_queued=len(rows),
            mails_delivered=sum(1 for r in rows if r[0] in seen),
            mails_duplicated=dups,
        )
        if dups:
            res["failures"].append(f"{dups} duplicate delivery(ies) over the whole run")
        t = time.time()
        status, body = http_json(self.http_port, "POST", "/api/client/log/verify", token=self.token)
        if status not in (200, 202) or not body or "job_id" not in body:
            res["failures"].append(f"POST /api/client/log/verify answered {status}: {body}")
        else:
            job = body["job_id"]
            deadline = time.time() + max(120, 2 * self.cfg.mail_deadline)
            while True:
                status, body = http_json(
                    self.http_port, "GET", f"/api/client/log/verify/{job}", token=self.token
                )
                if status == 200 and body.get("status") != "running":
                    break
                if time.time() > deadline:
                    body = {"status": "still running", "valid": None}
                    break
                time.sleep(0.25)
            res["log_verify"] = {
                k: body.get(k) for k in ("status", "valid", "size", "problem_count")
            }
            res["log_verify_seconds"] = round(time.time() - t, 2)
            if body.get("valid") is not True:
                res["failures"].append(
                    f"the practice's evidence log does not verify: {json.dumps(body)[:400]}"
                )
        res["result"] = "FAIL" if res["failures"] else "PASS"
        self.results.append(res)
        self.failures.extend(f"whole run: {m}" for m in res["failures"])
        lv = res.get("log_verify") or {}
        print(
            f"\n== whole run: {res['mails_queued']} mails queued, {res['mails_delivered']} "
            f"delivered, {dups} duplicated; evidence log verification: {lv.get('status')}, "
            f"valid={lv.get('valid')}, {lv.get('size')} leaves in "
            f"{fmt_s(res.get('log_verify_seconds'))} -> {res['result']}",
            flush=True,
        )
        for m in res["failures"]:
            print(f"   FAILED: {m}", flush=True)

    # ----------------------------------------------------------------- output

    def print_scenario(self, r):
        errs = ", ".join(f"{k} {v}" for k, v in sorted(r.get("client_errors", {}).items()))
        g = r.get
        lines = [
            f"\n== {r['scenario']}: {g('fault')} (fault lasted {g('fault_seconds', 0):.2f} s)",
            (
                f"   bundles: sent {g('bundles_sent')}, acknowledged {g('acknowledged')} "
                f"({g('acknowledged_on_resend')} on a resend answered 200: stored before the "
                f"failure was seen), unacknowledged {g('unacknowledged')}, lost {g('lost', '?')}; "
                f"{g('requests')} requests in {g('load_seconds')} s, {g('ingest_rate')} bundles/s"
            ),
            f"   client errors (each retried): {errs or 'none'}",
            (
                f"   recovery after the fault's end: /readyz 200 in {fmt_s(g('recovery_readyz_s'))}, "
                f"first acknowledged bundle in {fmt_s(g('recovery_first_ingest_s'))}"
            ),
            (
                f"   chains: {g('chains_verified', '?')} sites, {g('chain_links', '?')} links "
                f"verified by portal verify-chain in {fmt_s(g('verify_seconds'))}; the API shows "
                f"the {g('api_bundles_checked', '?')} bundles acknowledged around the fault"
            ),
            (
                f"   mail: queued {g('mails_queued', '?')}, delivered {g('mails_delivered', '?')}, "
                f"duplicated {g('mails_duplicated', '?')}, undelivered {g('mails_undelivered', '?')}; "
                f"slowest {fmt_s(g('mail_slowest_s'))} after being queued (or after the fault's end)"
            ),
        ]
        if r.get("mails_in_flight_at_kill"):
            lines.append(
                f"   mail in flight when the portal was killed: {r['mails_in_flight_at_kill']} "
                "(claimed, so it goes once its lease ends; if the server had taken it, a second "
                "copy with the same Message-ID)"
            )
        if "mails_queued_while_smtp_down" in r:
            lines.append(
                f"   mail waiting while SMTP was down: {r['mails_queued_while_smtp_down']}; after SMTP "
                f"came back the first arrived in {fmt_s(g('mail_delivery_after_smtp_back_first_s'))}"
                f", all in {fmt_s(g('mail_delivery_after_smtp_back_all_s'))}"
            )
        lines.append(f"   -> {r['result']}")
        lines += [f"   FAILED: {m}" for m in r["failures"]]
        print("\n".join(lines), flush=True)

    def print_summary(self):
        rows = [r for r in self.results if r["scenario"] != "whole run"]
        if not rows:
            return
        head = [
            "scenario",
            "sent",
            "acked",
            "lost",
            "ready s",
            "ingest s",
            "mail q/d/dup",
            "mail after SMTP s",
            "result",
        ]
        table = [head]
        for r in rows:
            table.append(
                [
                    r["scenario"],
                    str(r.get("bundles_sent")),
                    str(r.get("acknowledged")),
                    str(r.get("lost", "?")),
                    "n/a"
                    if r.get("recovery_readyz_s") is None
                    else f"{r['recovery_readyz_s']:.2f}",
                    "n/a"
                    if r.get("recovery_first_ingest_s") is None
                    else f"{r['recovery_first_ingest_s']:.2f}",
                    f"{r.get('mails_queued', '?')}/{r.get('mails_delivered', '?')}/{r.get('mails_duplicated', '?')}",
                    (
                        "-"
                        if "mails_queued_while_smtp_down" not in r
                        else "n/a"
                        if r.get("mail_delivery_after_smtp_back_all_s") is None
                        else f"{r['mail_delivery_after_smtp_back_all_s']:.2f}"
                    ),
                    r["result"],
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        print(
            "\nSummary (recovery times from the fault's end; mail after SMTP: until the last "
            "mail queued during the outage arrived)",
            flush=True,
        )
        for row in table:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)), flush=True)

    # --------------------------------------------------------------- teardown

    def teardown(self, failed):
        if self.fleet:
            for a in self.fleet.appliances:
                if a._thread is not None and a._thread.is_alive():
                    a.stop(time.time())
        if self.portal:
            self.portal.stop()
        if self.sink:
            self.sink.stop()
        if self.pg and self.pg.data.exists():
            with contextlib.suppress(Exception):  # best effort at exit
                self.pg.stop("fast", check=False)
        if self.work:
            if failed or self.cfg.keep:
                print(
                    f"kept {self.work} (portal.log, pgrun/postgres.log, report.json)",
                    file=sys.stderr,
                )
            else:
                shutil.rmtree(self.work, ignore_errors=True)


class Watchdog(Exception):
    pass


def main(argv):
    cfg = Config(argv)
    run = Run(cfg)
    t0 = time.time()

    def on_alarm(signum, frame):
        raise Watchdog(f"the run exceeded its bound of {cfg.max_seconds} s (FAULT_MAX_SECONDS)")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(cfg.max_seconds)
    try:
        mode = "benchmark (--long)" if cfg.long else "CI"
        say(
            f"fault tests, {mode} mode: load {cfg.seconds:g} s before and after each fault, "
            f"PostgreSQL down {cfg.pg_down:g} s, SMTP down {cfg.smtp_down:g} s, {cfg.sites} sites; "
            f"asserting /readyz within {cfg.ready_within:g} s and mail within "
            f"{cfg.mail_deadline:g} s"
        )
        run.setup()
        for name in cfg.scenarios:
            run.scenario(name)
        run.final_checks()
        run.print_summary()
    except (FaultTestError, Watchdog) as e:
        run.failures.append(str(e))
    except KeyboardInterrupt:
        run.failures.append("interrupted")
    except Exception:  # noqa: BLE001 - the traceback is the message
        run.failures.append("the fault test itself crashed:\n" + traceback.format_exc())
    finally:
        signal.alarm(0)
        report = {
            "config": {k: v for k, v in vars(cfg).items()},
            "results": run.results,
            "failures": run.failures,
            "wall_seconds": round(time.time() - t0, 1),
        }
        for path in [cfg.report] + ([run.work / "report.json"] if run.work else []):
            if path:
                try:
                    Path(path).write_text(json.dumps(report, indent=2, default=str))
                except OSError:
                    pass
        run.teardown(bool(run.failures))
    wall = time.time() - t0
    bad = sum(1 for r in run.results if r.get("result") == "FAIL")
    print(f"\nfault-test: {len(run.results) - bad} passed, {bad} failed", flush=True)
    if run.failures:
        print(f"\nfault-test: FAILED after {wall:.0f} s:", flush=True)
        for m in run.failures:
            print(f"  - {m}", flush=True)
        return 1
    print(f"\nfault-test: all {len(cfg.scenarios)} scenarios passed in {wall:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
