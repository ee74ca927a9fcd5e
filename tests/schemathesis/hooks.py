"""schemathesis hooks for scripts/api-checks (loaded by tests/schemathesis.toml).

1. Credentials. The run authenticates with the seeded owner's API token
   (scope write, `[auth.openapi.ApiToken]`). The operations a token may
   never use (passwords, sessions, tokens, users, roles, invitations,
   auditor grants, transfers: 403 for any token, by design) are sent with
   a browser session instead: its cookie and CSRF token replace the
   bearer. Logout, setting a password and signing out other sessions each
   get a session of their own, so that they end nobody else's.
2. Appliance requests (POST /appliance/…) are signed with the seeded
   site's Ed25519 key: `X-Agent-Signature` is the hex signature of exactly
   the body sent. In positive cases the body is first made into a request
   the portal can accept: the seeded site, the current time, a summary
   that agrees with the checks, a real bundle to prove, a cosignature
   made with the site's cosigner key over a real checkpoint. Negative
   cases keep their fault but name the seeded site (and, for log
   requests, the current time), and are signed, so that what is refused
   is the fault, not an unknown site or a missing signature. Bundles each
   come from a client address of their own (see `_sign`).
3. Second factors. Each MFA operation runs as a user of its own (see
   seed.py), and its first well-formed request is made into one the
   portal accepts, so that the run reaches the accepting logic: a fresh
   pending sign-in (password, then the pending cookie) with a code from
   pyotp for verify_mfa, a challenge answered by the seeded software
   passkey (softkey.py) for the WebAuthn pair, a new enrolment's code
   for verify_totp, a new registration for create_passkey, the password
   for verify_reauthentication. Later requests stay as generated. Changes
   that need a sign-in within 10 minutes first renew it (reauthenticate,
   with the password or the next unused code) once 4 minutes have passed.
4. Coverage. Every response is appended to $SCHEMATHESIS_CALLS (JSON
   lines: operation, method sent, status, phase) for
   tests/schemathesis/coverage.py.

The seeded values come from the environment (SEED_*, see seed.py).
"""

import base64
import datetime as dt
import hashlib
import itertools
import json
import os
import time
import uuid

import sys

import pyotp
import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from schemathesis.core.parameters import ParameterLocation

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from softkey import SoftKey, unb64url  # noqa: E402  (beside this file)

COOKIE = "__Host-osiris_session"
PENDING = "__Host-osiris_mfa"
SEED = {k: v for k, v in os.environ.items() if k.startswith("SEED_")}
BASE = os.environ["SEED_BASE_URL"]
API = f"{BASE}/api"
SIGNING = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED["SEED_SIGNING_KEY"]))
COSIGNER = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex(SEED["SEED_COSIGNER_KEY"])
)
CALLS = os.environ["SCHEMATHESIS_CALLS"]

class App:
    """A user's authenticator app, from `secret:last step used`."""

    def __init__(self, totp: str):
        secret, step = totp.split(":")
        self.secret, self.last_step = secret, int(step)

    def next_code(self) -> str | None:
        """A code for a step not used yet: this one, or the next (the
        portal accepts ±1 step); None when both are used."""
        now = int(time.time()) // 30
        step = max(now, self.last_step + 1)
        if step > now + 1:
            return None
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * 30)


class Account:
    """A seeded browser session, and how it confirms it is its user: the
    password, or codes from the user's app."""

    def __init__(self, name: str, password: str | None = None, totp: str | None = None):
        self.cookie = SEED[f"SEED_{name}SESSION"]
        self.csrf = SEED[f"SEED_{name}CSRF"]
        self.password = password
        self.app = App(totp) if totp else None
        self.fresh = int(SEED["SEED_STARTED_AT"])  # sessions began after this

    def __iter__(self):  # (cookie, csrf), as _use_session reads it
        return iter((self.cookie, self.csrf))

    def renew(self) -> None:
        """Confirms it is the user once 4 of the 10 minutes have passed."""
        if time.time() - self.fresh < 240:
            return
        body = {"code": self.app and self.app.next_code(), "password": self.password}
        response = requests.post(
            f"{API}/client/auth/reauthenticate",
            json=body,
            cookies={COOKIE: self.cookie},
            headers={"X-CSRF-Token": self.csrf},
            timeout=30,
        )
        if response.status_code == 204:
            self.fresh = time.time()


PASSWORD = SEED["SEED_FACTOR_PASSWORD"]
MAIN = Account("", password=SEED["SEED_OWNER_PASSWORD"])
FACTORS = Account("FACTORS_", totp=SEED["SEED_FACTORS_TOTP"])
CONFIRM = Account("CONFIRM_", password=PASSWORD)
REAUTH = Account("REAUTH_", password=PASSWORD)
# The operations that need a browser session (`require_browser_session`
# in the portal), and logout (which a token may call, but then ends
# nothing), with the session each uses; any other is called with the API
# token.
SESSION_FOR = {
    "logout_session": (SEED["SEED_LOGOUT_SESSION"], SEED["SEED_LOGOUT_CSRF"]),
    "set_password": (SEED["SEED_PASSWORD_SESSION"], SEED["SEED_PASSWORD_CSRF"]),
    "revoke_other_sessions": (SEED["SEED_OTHERS_SESSION"], SEED["SEED_OTHERS_CSRF"]),
    "create_totp": Account("ENROL_", password=PASSWORD),
    "verify_totp": CONFIRM,
    "delete_totp": Account("TOTP_REMOVE_", totp=SEED["SEED_TOTP_REMOVE_TOTP"]),
    "delete_passkey": Account("PASSKEY_REMOVE_", totp=SEED["SEED_PASSKEY_REMOVE_TOTP"]),
    "set_mfa_policy": Account("POLICY_", totp=SEED["SEED_POLICY_TOTP"]),
    "verify_reauthentication": REAUTH,
    **{
        operation: FACTORS
        for operation in (
            "get_mfa_status",
            "create_recovery_codes",
            "create_passkey_challenge",
            "create_passkey",
        )
    },
    **{
        operation: MAIN
        for operation in (
            "revoke_session",
            "create_api_token",
            "revoke_api_token",
            "create_invite",
            "revoke_invite",
            "resend_invite",
            "remove_user",
            "set_user_role",
            "create_auditor_grant",
            "update_auditor_grant",
            "revoke_auditor_grant",
            "create_transfer_request",
            "cancel_transfer_request",
            "remove_user_mfa",
        )
    },
}
# Changes that need a sign-in within the last 10 minutes.
RECENT = {
    "create_api_token",
    "create_totp",
    "verify_totp",
    "delete_totp",
    "create_recovery_codes",
    "create_passkey_challenge",
    "create_passkey",
    "delete_passkey",
    "set_mfa_policy",
    "remove_user_mfa",
}

APPLIANCE = {
    "ingest_evidence": None,
    "get_appliance_log_proof": "log-proof",
    "get_appliance_log_witness": "log-witness",
    "create_appliance_cosignature": "log-cosignature",
}
STATUS_CLASS = {
    "pass": "pass",
    "compliant": "pass",
    "fail": "fail",
    "non_compliant": "fail",
    "warn": "warn",
    "warning": "warn",
    "error": "warn",
}


def _operation_id(case) -> str | None:
    return case.operation.schema.get_operation_id(case.operation)


def _is_negative(case, location) -> bool:
    return case.meta is not None and case.meta.is_negative_at(location)


def _use_session(case) -> None:
    session = SESSION_FOR.get(_operation_id(case))
    bearer = f"Bearer {SEED['SEED_TOKEN']}"
    # Only the configured token is swapped: a case whose credential was
    # removed or generated on purpose (authentication checks) keeps it.
    if (
        session is None
        or case.headers is None
        or case.headers.get("Authorization") != bearer
    ):
        return
    if isinstance(session, Account) and _operation_id(case) in RECENT:
        session.renew()
    cookie, csrf = session
    del case.headers["Authorization"]
    case.headers["X-CSRF-Token"] = csrf
    case.cookies = {**(case.cookies or {}), COOKIE: cookie}


def _cosignature(timestamp: int) -> tuple[int, str]:
    """The site's c2sp.org/tlog-cosignature v1 line over the seeded
    checkpoint (its note's text, up to the blank line) at `timestamp`."""
    note = SEED["SEED_CHECKPOINT_NOTE"]
    text = note[: note.rindex("\n\n") + 1]
    origin = text.split("\n", 1)[0]
    name = f"{origin.split('/log/')[0]}/appliance/{SEED['SEED_SITE']}"
    public = COSIGNER.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
    line = base64.b64encode(
        key_id + timestamp.to_bytes(8, "big") + COSIGNER.sign(message)
    ).decode()
    return int(SEED["SEED_CHECKPOINT_SIZE"]), f"\u2014 {name} {line}"


def _addressed(body: dict, request: str | None) -> None:
    """Points any appliance body at the seeded site, and a log request at
    the current time and the endpoint's request name, unless that field is
    what a negative case gets wrong (then it is not a UUID string, a
    string, or an integer). So what a negative case is refused for is
    its own fault, not an unknown site or a stale timestamp. hooks'
    changes are revalidated: a case they make valid counts as positive."""
    if _is_uuid(body.get("site_id")):
        body["site_id"] = SEED["SEED_SITE"]
    if request is not None:
        if isinstance(body.get("request"), str):
            body["request"] = request
        if type(body.get("timestamp")) is int:
            body["timestamp"] = int(time.time())


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(value)
        return isinstance(value, str)
    except (TypeError, ValueError, AttributeError):
        return False


_FRESH = itertools.count(1)  # bundles given an id of their own
_ADDRESSES = itertools.count(1)  # client addresses for bundles


def _acceptable(body: dict, request: str | None) -> None:
    """Makes a generated (positive) appliance body one the portal accepts."""
    now = dt.datetime.now(dt.UTC)
    body["site_id"] = SEED["SEED_SITE"]
    if request is None:  # an evidence bundle
        n = next(_FRESH)
        if n % 2 and isinstance(body.get("bundle_id"), str):
            # Every other bundle gets an id of its own, to be appended to
            # the chain; the rest keep theirs and often repeat one (the
            # fuzzer likes "0"): a resend (200) or a conflict (409).
            suffix = f".{n}"
            body["bundle_id"] = body["bundle_id"][: 128 - len(suffix)] + suffix
        body["checked_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        checks, seen = [], set()
        for check in body.get("checks") or []:
            key = (check.get("check"), check.get("host"))
            if key not in seen:  # (check, host) once per bundle
                seen.add(key)
                checks.append(check)
        body["checks"] = checks
        counted = [STATUS_CLASS.get(c.get("status")) for c in checks]
        body["summary"] = {
            "total_checks": len(checks),
            "compliant": counted.count("pass"),
            "non_compliant": counted.count("fail"),
            "errors": counted.count("warn"),
        }
        return
    body["request"] = request
    body["timestamp"] = int(now.timestamp())
    if request == "log-proof":
        body["bundle_id"] = SEED["SEED_BUNDLE_PROOF"]
    elif request == "log-witness":
        # Any size up to the seeded checkpoint's is a size the appliance may have seen.
        body["old_size"] = (body.get("old_size") or 0) % (
            int(SEED["SEED_CHECKPOINT_SIZE"]) + 1
        )
    else:
        body["size"], body["cosignature"] = _cosignature(body["timestamp"])


def _sign(case, kwargs) -> None:
    operation = _operation_id(case)
    if operation == "ingest_evidence_batch":
        # Each entry is answered on its own (the fuzzer's are refused: not
        # signed); each of them counts towards the refused bundles of the
        # client address, so each batch comes from an address of its own
        # (see ingest_evidence below).
        case.headers = {**(case.headers or {}), "X-Forwarded-For": _address()}
        return
    if operation not in APPLIANCE:
        return
    # Requests sent as another media type on purpose (content-type probes)
    # are left alone: they are refused for their type.
    if not (case.media_type or "").startswith("application/json"):
        return
    if isinstance(case.body, dict):
        if _is_negative(case, ParameterLocation.BODY):
            _addressed(case.body, APPLIANCE[operation])
        else:
            _acceptable(case.body, APPLIANCE[operation])
    if operation == "ingest_evidence":
        # The portal refuses a client address after 120 refused bundles a
        # minute (429, documented); the fuzzer's refused bundles would use
        # that up within a second and leave every later bundle untested. So
        # each bundle comes from a client address of its own: the portal
        # trusts this header from loopback here (PORTAL_TRUSTED_PROXIES,
        # set by scripts/api-checks); one /64 (the limit's unit) each, in
        # the documentation prefix 2001:db8::/32.
        case.headers = {**(case.headers or {}), "X-Forwarded-For": _address()}
    if _is_negative(case, ParameterLocation.HEADER):
        return  # the signature header itself is what this case gets wrong
    # The bytes `requests` would send for `json=body`, sent as they are signed.
    if isinstance(case.body, bytes):
        raw = case.body
    else:
        try:
            raw = json.dumps(case.body, allow_nan=False).encode()
        except (TypeError, ValueError):
            return  # no body, or none JSON can spell: sent unsigned
    kwargs["data"] = raw
    case.headers = {
        **(case.headers or {}),
        "X-Agent-Signature": SIGNING.sign(raw).hex(),
    }


def _accept_with_the_seeded_invitation(case) -> None:
    """The seeded invitation can be accepted once: the first well-formed
    request carrying its token gets it (a generated name is any valid one,
    and the coverage phase may spend its cases on other bodies), so the
    run always reaches the accepting logic; later ones see 401."""
    if (
        _operation_id(case) == "accept_invite"
        and isinstance(case.body, dict)
        and case.body.get("token") == SEED["SEED_INVITE_TOKEN"]
        and not _is_negative(case, ParameterLocation.BODY)
        and (case.media_type or "").startswith("application/json")
    ):
        case.body["name"] = "Invited Viewer"


# The seeded invitations the run needs intact: granting an auditor or
# inviting a user at one of these addresses replaces that invitation (as it
# should), and the fuzzer finds the addresses in the responses it reads.
SEEDED_INVITEES = ("invite-accept@", "invite-revoke@", "invite-resend@")
_OTHER_ADDRESSES = itertools.count(1)


def _keep_the_seeded_invitations(case) -> None:
    if (
        _operation_id(case) in ("create_auditor_grant", "create_invite")
        and isinstance(case.body, dict)
        and isinstance(case.body.get("email"), str)
        and case.body["email"].strip().lower().startswith(SEEDED_INVITEES)
    ):
        domain = case.body["email"].split("@", 1)[1]
        case.body["email"] = f"other-{next(_OTHER_ADDRESSES)}@{domain}"


def _a_real_time_zone(case) -> None:
    """Every other well-formed time zone change names a real zone (a
    generated name almost never is one: 422), so both answers are reached."""
    if (
        _operation_id(case) == "set_org_settings"
        and isinstance(case.body, dict)
        and not _is_negative(case, ParameterLocation.BODY)
        and next(_ZONES) % 2 == 0
    ):
        case.body["time_zone"] = "America/Chicago"


_ZONES = itertools.count(0)


def _acknowledge_the_seeded_warning(case) -> None:
    """A well-formed acknowledgement names the seeded site's open backup
    warning, so the run reaches the writing logic (an item that is not on
    the to-do list is a 404, which a generated one always is)."""
    if (
        _operation_id(case) == "create_todo_acknowledgement"
        and isinstance(case.body, dict)
        and not _is_negative(case, ParameterLocation.BODY)
        and (case.media_type or "").startswith("application/json")
    ):
        case.body.update(
            site_id=SEED["SEED_SITE"], check_type="backup_status", host="SERVER-01"
        )


# The MFA operations whose first well-formed request _second_factors
# prepares, until one answers 2xx (after_call marks it done).
DONE: set[str] = set()
PASSKEY = SoftKey(
    base64.b64decode(SEED["SEED_PASSKEY_KEY"]), unb64url(SEED["SEED_PASSKEY_CREDENTIAL"])
)
MFA_APP = App(SEED["SEED_MFA_TOTP"])


def _address() -> str:
    """A client address of its own (see `_sign`), so that the per-address
    limits on sign-in steps, which the run's own sign-in cases use up,
    leave these requests alone."""
    n = next(_ADDRESSES)
    return f"2001:db8:{n >> 16:x}:{n & 0xFFFF:x}::1"


def _pending(email: str) -> str:
    """The pending cookie of a fresh password sign-in that asked for a second factor."""
    response = requests.post(
        f"{API}/client/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": _address()},
        timeout=30,
    )
    if response.status_code != 200 or PENDING not in response.cookies:
        raise RuntimeError(f"signing in {email} answered {response.status_code}: {response.text}")
    return response.cookies[PENDING]


def _post_as(account: Account, path: str, body=None) -> dict:
    response = requests.post(
        f"{API}{path}",
        json=body,
        cookies={COOKIE: account.cookie},
        headers={"X-CSRF-Token": account.csrf},
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text}")
    return response.json()


def _second_factors(case) -> None:
    operation = _operation_id(case)
    if (
        operation in DONE
        # Probes of methods the operation does not have answer 405 whatever they carry.
        or case.method.upper() != case.operation.method.upper()
        or not (case.media_type or "application/json").startswith("application/json")
    ):
        return
    if operation in ("verify_mfa", "create_mfa_challenge", "verify_mfa_webauthn"):
        case.headers = {**(case.headers or {}), "X-Forwarded-For": _address()}
    body = case.body
    well_formed = isinstance(body, dict) and not _is_negative(case, ParameterLocation.BODY)
    if operation == "create_mfa_challenge":  # no body
        if not _is_negative(case, ParameterLocation.COOKIE):
            case.cookies = {
                **(case.cookies or {}),
                PENDING: _pending(SEED["SEED_PASSKEY_EMAIL"]),
            }
        return
    if not well_formed:
        return
    if operation == "verify_mfa":
        code = MFA_APP.next_code()
        if code is not None:
            case.cookies = {**(case.cookies or {}), PENDING: _pending(SEED["SEED_MFA_EMAIL"])}
            body["code"] = code
    elif operation == "verify_mfa_webauthn":
        pending = _pending(SEED["SEED_PASSKEY_EMAIL"])
        options = requests.post(
            f"{API}/client/auth/mfa/webauthn/start",
            cookies={PENDING: pending},
            headers={"X-Forwarded-For": _address()},
            timeout=30,
        ).json()
        case.cookies = {**(case.cookies or {}), PENDING: pending}
        body["credential"] = PASSKEY.assert_(options, BASE)
    elif operation == "verify_totp":
        new = _post_as(CONFIRM, "/client/mfa/totp")
        step = int(time.time()) // 30
        body["code"] = pyotp.TOTP(new["secret"]).at(step * 30)
        CONFIRM.app = App(f"{new['secret']}:{step}")
    elif operation == "create_passkey":
        options = _post_as(FACTORS, "/client/mfa/webauthn/register/start", {"name": "Fuzz key"})
        body["credential"] = SoftKey().register(options, BASE)
    elif operation == "verify_reauthentication":
        body.clear()
        body["password"] = REAUTH.password


@schemathesis.hook
def before_call(context, case, kwargs):
    _use_session(case)
    _accept_with_the_seeded_invitation(case)
    _keep_the_seeded_invitations(case)
    _a_real_time_zone(case)
    _acknowledge_the_seeded_warning(case)
    _second_factors(case)
    _sign(case, kwargs)


@schemathesis.hook
def after_call(context, case, response):
    phase = case.meta.phase.name.value if case.meta is not None else None
    record = {
        "operation": case.operation.label,
        # Differs from the operation's for the probes of undocumented methods.
        "method": response.request.method,
        "status": response.status_code,
        "phase": phase,
        "at": time.time(),
    }
    if 200 <= response.status_code < 300:
        DONE.add(_operation_id(case))
    with open(CALLS, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
