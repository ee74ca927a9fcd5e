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
3. Coverage. Every response is appended to $SCHEMATHESIS_CALLS (JSON
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

import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from schemathesis.core.parameters import ParameterLocation

COOKIE = "__Host-osiris_session"
SEED = {k: v for k, v in os.environ.items() if k.startswith("SEED_")}
SIGNING = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED["SEED_SIGNING_KEY"]))
COSIGNER = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex(SEED["SEED_COSIGNER_KEY"])
)
CALLS = os.environ["SCHEMATHESIS_CALLS"]

# The operations that need a browser session (`require_browser_session`
# in the portal), and logout (which a token may call, but then ends
# nothing), with the session each uses; any other is called with the API
# token.
MAIN = (SEED["SEED_SESSION"], SEED["SEED_CSRF"])
SESSION_FOR = {
    "logout_session": (SEED["SEED_LOGOUT_SESSION"], SEED["SEED_LOGOUT_CSRF"]),
    "set_password": (SEED["SEED_PASSWORD_SESSION"], SEED["SEED_PASSWORD_CSRF"]),
    "revoke_other_sessions": (SEED["SEED_OTHERS_SESSION"], SEED["SEED_OTHERS_CSRF"]),
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
        )
    },
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
        n = next(_ADDRESSES)
        address = f"2001:db8:{n >> 16:x}:{n & 0xFFFF:x}::1"
        case.headers = {**(case.headers or {}), "X-Forwarded-For": address}
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


@schemathesis.hook
def before_call(context, case, kwargs):
    _use_session(case)
    _accept_with_the_seeded_invitation(case)
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
    with open(CALLS, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
