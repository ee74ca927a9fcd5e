"""Seeds a fresh `portal serve` for scripts/api-checks, so that schemathesis
has a real id of the right practice for every path parameter and a
credential that may call every operation.

    python seed.py BASE_URL MAIL_DIR WORK_DIR    # PORTAL_BIN: the portal binary

Through the operator CLI (as an operator would): two MSP partners, a
practice served by the first, its users, the main API token (scope write),
a site whose appliance keys are generated here (Ed25519, registered with
`create-site --public-key` and `set-site-keys --witness-key`) and three
evidence bundles pushed with `portal appliance push` (the second fails a
check, which raises a notification).

Through the API, as the practice would: browser sessions from magic links
read at the loopback SMTP sink (smtp_sink.py), invitations, auditor grants,
a second API token, a pending transfer request, a practice verification
job and a built evidence pack; then the latest signed checkpoint.

Operations that consume what they are given (revoke, delete, sign-in and
invitation tokens, logout, password changes) each get their own target and
their own session, so that no operation spoils another's data whatever
order schemathesis runs them in; the run's later examples of a destructive
operation get 404/401, which is fine once one of them got its 2xx.

Second factors, made through the API as a user would: authenticator apps
(codes from pyotp) and passkeys (softkey.py, a software authenticator),
each on a user of its own for the same reason; the MFA policy is changed
in a second practice, whose owner has an app, so that requiring MFA locks
nobody out of the main run.

Writes WORK_DIR/seed.env (`export SEED_…=…` lines, sourced by the script;
tests/schemathesis.toml and hooks.py read them) and prints a summary.
"""

import base64
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Beside this file (a script's own directory is on sys.path).
from smtp_sink import messages, wait_for_link
from softkey import SoftKey, b64url

COOKIE = "__Host-osiris_session"
DOMAIN = "apicheck.example"

started_at = time.time()
base, mail_dir, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
api = f"{base}/api"
portal = os.environ.get("PORTAL_BIN", "./target/debug/portal")


def fail(message: str) -> None:
    sys.exit(f"seed: {message}")


def cli(*args: str) -> str:
    """Runs `portal ARGS…` (it finds the running cluster in PORTAL_DATA_DIR);
    its stdout, stripped (the new id, for `admin create-*`)."""
    run = subprocess.run(
        [portal, *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    if run.returncode != 0:
        fail(f"`portal {' '.join(args)}` failed:\n{run.stderr}")
    return run.stdout.strip()


def call(
    method: str, path: str, expect: int, *, auth: "Credential | None" = None, **kwargs
) -> dict:
    headers = kwargs.pop("headers", {})
    cookies = {}
    if isinstance(auth, Session):
        cookies[COOKIE] = auth.cookie
        if auth.csrf:
            headers["X-CSRF-Token"] = auth.csrf
    elif isinstance(auth, str):
        headers["Authorization"] = f"Bearer {auth}"
    response = requests.request(
        method, api + path, headers=headers, cookies=cookies, timeout=30, **kwargs
    )
    if response.status_code != expect:
        fail(
            f"{method} {path} answered {response.status_code}, not {expect}: {response.text[:500]}"
        )
    return (
        response.json()
        if response.content and "json" in response.headers.get("content-type", "")
        else {}
    )


def magic_link_token(email: str) -> str:
    """The token of a sign-in link for `email`, as mailed."""
    seen = {m.name for m in messages(mail_dir)}
    call("POST", "/client/auth/request-magic-link", 200, json={"email": email})
    return wait_for_link(mail_dir, email, "/client/verify", seen)


class Session:
    """A browser session, signed in with a magic link from the mailbox."""

    def __init__(self, email: str):
        response = requests.post(
            f"{api}/client/auth/validate-magic-link",
            json={"token": magic_link_token(email)},
            timeout=30,
        )
        if response.status_code != 200 or COOKIE not in response.cookies:
            fail(
                f"signing in {email} answered {response.status_code}: {response.text[:300]}"
            )
        self.cookie, self.csrf = response.cookies[COOKIE], ""
        me = call("GET", "/client/auth/me", 200, auth=self)
        self.csrf = me["csrf_token"]
        current = [
            s
            for s in call("GET", "/client/sessions", 200, auth=self)["sessions"]
            if s["current"]
        ]
        self.id = current[0]["id"]


Credential = Session | str


def poll(what: str, probe, timeout: float = 60.0):
    """`probe()` once it returns something truthy (background work: pack
    building, checkpoint signing); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


def raw_hex(key: Ed25519PrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return private.hex(), public.hex()


def write_pem(key: Ed25519PrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def bundle(bundle_id: str, site: str, at: dt.datetime, failing: bool) -> dict:
    checks = [
        {
            "check": "firewall_status",
            "status": "pass",
            "host": "FRONTDESK-01",
            "hipaa_control": "164.312(e)(1)",
        },
        {
            "check": "bitlocker_status",
            "status": "fail" if failing else "pass",
            "host": "FRONTDESK-01",
            "hipaa_control": "164.312(a)(2)(iv)",
            "details": {"volume": "C:"},
        },
        {
            "check": "backup_status",
            "status": "warn",
            "host": "SERVER-01",
            "hipaa_control": "164.308(a)(7)",
        },
    ]
    status = [c["status"] for c in checks]
    return {
        "bundle_id": bundle_id,
        "site_id": site,
        "checked_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "checks": checks,
        "summary": {
            "total_checks": len(checks),
            "compliant": status.count("pass"),
            "non_compliant": status.count("fail"),
            "errors": status.count("warn"),
        },
    }


# --- Operator CLI ----------------------------------------------------------


def admin(command: str, **flags: str) -> str:
    """`portal admin COMMAND --flag value…` (underscores in names become dashes)."""
    pairs = [(f"--{name.replace('_', '-')}", value) for name, value in flags.items()]
    return cli("admin", command, *(item for pair in pairs for item in pair))


home = admin("create-partner", name="API Check Home IT", email=f"msp@{DOMAIN}")
# Somewhere else to move to (GET /client/transfer/partners lists it).
admin("create-partner", name="API Check Other IT", email=f"other@{DOMAIN}")
org = admin(
    "create-org", name="API Check Clinic", email=f"office@{DOMAIN}", partner=home
)


def user(local: str, role: str, name: str) -> str:
    email = f"{local}@{DOMAIN}"
    return admin("create-user", org=org, email=email, role=role, name=name)


owner = user("owner", "owner", "API Checker")
role_target = user("role-target", "admin", "Role Target")  # set_user_role
removed = user("removed", "viewer", "Removed User")  # remove_user
user("password", "viewer", "Password Setter")  # set_password's session
user("others", "viewer", "Other Sessions")  # revoke_other_sessions' session
user("login", "viewer", "Password Login")  # login_password
token = admin("create-api-token", user=owner, name="api-checks", scope="write")

# The site's appliance keys, made here: the signing key signs bundles and
# log requests, the cosigner key cosigns checkpoints.
signing, cosigner = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
signing_private, signing_public = raw_hex(signing)
cosigner_private, cosigner_public = raw_hex(cosigner)
site = admin(
    "create-site", org=org, name="API Check Main Street", public_key=signing_public
)
admin("set-site-keys", site=site, witness_key=cosigner_public)

key_file = work / "appliance.pem"
write_pem(signing, key_file)
now = dt.datetime.now(dt.UTC).replace(microsecond=0)
bundle_ids = [f"CB-apicheck-{i}" for i in (1, 2, 3)]
files = []
for i, bundle_id in enumerate(bundle_ids):
    # An hour apart; the second fails a check (a critical notification).
    at = now - dt.timedelta(hours=3 - i)
    path = work / f"{bundle_id}.json"
    path.write_text(json.dumps(bundle(bundle_id, site, at, failing=i == 1)))
    files.append(str(path))
cli("appliance", "push", "--url", base, "--site", site, "--key", str(key_file), *files)

# --- Through the API -------------------------------------------------------

main = Session(f"owner@{DOMAIN}")  # everything that needs a browser session
# A password first (it signs out the owner's other sessions, none yet), so
# that the hooks can confirm it is them when the run outlasts 10 minutes.
owner_password = "api-checks owner password 1"
call("PUT", "/client/password", 200, auth=main, json={"password": owner_password})
logout = Session(f"owner@{DOMAIN}")  # logout_session ends it
revoked = Session(f"owner@{DOMAIN}")  # revoke_session's target
# set_password signs out the user's other sessions: a user of its own.
password = Session(f"password@{DOMAIN}")
others = Session(f"others@{DOMAIN}")  # revoke_other_sessions
Session(f"others@{DOMAIN}")  # ... which then has one to sign out
login = Session(f"login@{DOMAIN}")
login_password = "api-checks login password 1"
call("PUT", "/client/password", 200, auth=login, json={"password": login_password})


def invite(local: str) -> str:
    sent = call(
        "POST",
        "/client/users/invite",
        201,
        auth=main,
        json={"email": f"{local}@{DOMAIN}", "role": "viewer"},
    )
    return sent["invite_id"]


invite_revoke = invite("invite-revoke")
invite_resend = invite("invite-resend")
seen = {m.name for m in messages(mail_dir)}
invite("invite-accept")
invite_token = wait_for_link(
    mail_dir, f"invite-accept@{DOMAIN}", "/client/invite", seen
)


def grant(local: str) -> str:
    body = {
        "email": f"{local}@{DOMAIN}",
        "name": "Audrey Auditor",
        "firm": "Checks & Co",
        "expires_in_days": 30,
    }
    return call("POST", "/client/auditors", 201, auth=main, json=body)["grant_id"]


grant_update, grant_revoke = grant("auditor-update"), grant("auditor-revoke")
second_token = call(
    "POST",
    "/client/api-tokens",
    201,
    auth=main,
    json={"name": "to revoke", "scope": "read"},
)["id"]
# Pending, so that cancel_transfer_request has one to cancel (a new request
# is a 409 until it is cancelled; whichever runs first, both get a 2xx).
transfer = {"reason": "api-checks: cancel me"}
call("POST", "/client/transfer/request", 201, auth=main, json=transfer)
job = call("POST", "/client/log/verify", 202, auth=token)["job_id"]
today = now.date()
pack = call(
    "POST",
    "/client/audit-packs",
    202,
    auth=token,
    json={
        "from": str(today - dt.timedelta(days=7)),
        "to": str(today),
        "site_ids": [site],
    },
)["pack_id"]
poll(
    "the evidence pack's build",
    lambda: (
        call("GET", f"/client/audit-packs/{pack}", 200, auth=token)["status"] == "ready"
    ),
)
notifications = call("GET", "/client/notifications", 200, auth=token)
notification = notifications["notifications"][0]["id"]  # the failing check's


def latest_with_bundles():
    # A checkpoint whose tree holds the last bundle, so every seeded bundle has a proof.
    page = call("GET", "/client/log/checkpoints", 200, auth=token, params={"limit": 1})
    if not page["checkpoints"]:
        return None
    latest = page["checkpoints"][0]
    proof = requests.get(
        f"{api}/client/evidence/{bundle_ids[-1]}/proof",
        headers={"Authorization": f"Bearer {token}"},
        params={"size": latest["size"]},
        timeout=30,
    )
    return latest if proof.status_code == 200 else None


checkpoint = poll("a checkpoint over the seeded bundles", latest_with_bundles)

# --- Second factors ----------------------------------------------------------

FACTOR_PASSWORD = "api-checks factor password 1"


def factor_user(local: str, *, org_id: str = org, role: str = "viewer") -> Session:
    """A new user, signed in (before any factor, so a magic link gives a
    session), with FACTOR_PASSWORD set from that session."""
    email = f"{local}@{DOMAIN}"
    admin("create-user", org=org_id, email=email, role=role, name=local.title())
    session = Session(email)
    call("PUT", "/client/password", 200, auth=session, json={"password": FACTOR_PASSWORD})
    return session


def enrol_app(session: Session) -> tuple[str, int]:
    """Sets up an authenticator app; its secret and the step its first code used."""
    new = call("POST", "/client/mfa/totp", 201, auth=session)
    step = int(time.time()) // 30
    code = pyotp.TOTP(new["secret"]).at(step * 30)
    done = call("POST", "/client/mfa/totp/confirm", 200, auth=session, json={"code": code})
    if len(done["recovery_codes"]) != 10:
        fail(f"confirming an app answered {done}")
    return new["secret"], step


def add_passkey(session: Session, key: SoftKey, name: str) -> str:
    """Registers `key` as a passkey; its id."""
    options = call(
        "POST", "/client/mfa/webauthn/register/start", 200, auth=session, json={"name": name}
    )
    credential = key.register(options, base)
    added = call(
        "POST",
        "/client/mfa/webauthn/register/finish",
        201,
        auth=session,
        json={"credential": credential},
    )
    return added["id"]


# verify_mfa signs in with the password and a code from this user's app;
# create_mfa_challenge and verify_mfa_webauthn with this one's passkey.
mfa_secret, mfa_step = enrol_app(factor_user("mfa"))
passkey_key = SoftKey()
add_passkey(factor_user("passkey"), passkey_key, "Soft key")
# create_totp and verify_totp: users without a factor (they confirm it is
# them with the password).
enrol = factor_user("enrol")
confirm = factor_user("confirm")
# get_mfa_status, create_recovery_codes and the passkey registration pair.
factors = factor_user("factors")
factors_secret, factors_step = enrol_app(factors)
# delete_totp's and delete_passkey's users.
totp_remove = factor_user("totp-remove")
totp_remove_secret, totp_remove_step = enrol_app(totp_remove)
passkey_remove = factor_user("passkey-remove")
passkey_remove_secret, passkey_remove_step = enrol_app(passkey_remove)
passkey_remove_id = add_passkey(passkey_remove, SoftKey(), "Key to remove")
# remove_user_mfa's target (the owner's main session resets it).
reset_target = factor_user("reset")
enrol_app(reset_target)
reset_target_id = call("GET", "/client/auth/me", 200, auth=reset_target)["id"]
# verify_reauthentication's session.
reauth = factor_user("reauth")
# set_mfa_policy: the owner of a practice of its own, with an app.
policy_org = admin(
    "create-org", name="API Check Policy Clinic", email=f"policy@{DOMAIN}", partner=home
)
policy_owner = factor_user("policy-owner", org_id=policy_org, role="owner")
policy_secret, policy_step = enrol_app(policy_owner)

magic_token = magic_link_token(f"owner@{DOMAIN}")

seed = {
    "SEED_TOKEN": token,
    "SEED_OWNER_EMAIL": f"owner@{DOMAIN}",
    "SEED_SITE": site,
    "SEED_SIGNING_KEY": signing_private,
    "SEED_COSIGNER_KEY": cosigner_private,
    "SEED_BUNDLE": bundle_ids[0],
    "SEED_BUNDLE_PROOF": bundle_ids[1],
    "SEED_MONTH": f"{today:%Y-%m}",
    "SEED_CHECKPOINT_NOTE": checkpoint["note"],
    "SEED_CHECKPOINT_SIZE": str(checkpoint["size"]),
    "SEED_SESSION": main.cookie,
    "SEED_CSRF": main.csrf,
    "SEED_LOGOUT_SESSION": logout.cookie,
    "SEED_LOGOUT_CSRF": logout.csrf,
    "SEED_PASSWORD_SESSION": password.cookie,
    "SEED_PASSWORD_CSRF": password.csrf,
    "SEED_OTHERS_SESSION": others.cookie,
    "SEED_OTHERS_CSRF": others.csrf,
    "SEED_REVOKED_SESSION_ID": revoked.id,
    "SEED_LOGIN_EMAIL": f"login@{DOMAIN}",
    "SEED_LOGIN_PASSWORD": login_password,
    "SEED_MAGIC_TOKEN": magic_token,
    "SEED_INVITE_TOKEN": invite_token,
    "SEED_INVITE_REVOKE": invite_revoke,
    "SEED_INVITE_RESEND": invite_resend,
    "SEED_GRANT_UPDATE": grant_update,
    "SEED_GRANT_REVOKE": grant_revoke,
    "SEED_SECOND_TOKEN": second_token,
    "SEED_ROLE_TARGET": role_target,
    "SEED_REMOVED_USER": removed,
    "SEED_JOB": job,
    "SEED_PACK": pack,
    "SEED_NOTIFICATION": notification,
    "SEED_STARTED_AT": str(int(started_at)),
    "SEED_OWNER_PASSWORD": owner_password,
    "SEED_FACTOR_PASSWORD": FACTOR_PASSWORD,
    "SEED_MFA_EMAIL": f"mfa@{DOMAIN}",
    "SEED_MFA_TOTP": f"{mfa_secret}:{mfa_step}",
    "SEED_PASSKEY_EMAIL": f"passkey@{DOMAIN}",
    "SEED_PASSKEY_KEY": base64.b64encode(passkey_key.private_pem()).decode(),
    "SEED_PASSKEY_CREDENTIAL": b64url(passkey_key.credential_id),
    "SEED_ENROL_SESSION": enrol.cookie,
    "SEED_ENROL_CSRF": enrol.csrf,
    "SEED_CONFIRM_SESSION": confirm.cookie,
    "SEED_CONFIRM_CSRF": confirm.csrf,
    "SEED_FACTORS_SESSION": factors.cookie,
    "SEED_FACTORS_CSRF": factors.csrf,
    "SEED_FACTORS_TOTP": f"{factors_secret}:{factors_step}",
    "SEED_TOTP_REMOVE_SESSION": totp_remove.cookie,
    "SEED_TOTP_REMOVE_CSRF": totp_remove.csrf,
    "SEED_TOTP_REMOVE_TOTP": f"{totp_remove_secret}:{totp_remove_step}",
    "SEED_PASSKEY_REMOVE_SESSION": passkey_remove.cookie,
    "SEED_PASSKEY_REMOVE_CSRF": passkey_remove.csrf,
    "SEED_PASSKEY_REMOVE_TOTP": f"{passkey_remove_secret}:{passkey_remove_step}",
    "SEED_PASSKEY_REMOVE_ID": passkey_remove_id,
    "SEED_RESET_USER": reset_target_id,
    "SEED_REAUTH_SESSION": reauth.cookie,
    "SEED_REAUTH_CSRF": reauth.csrf,
    "SEED_POLICY_SESSION": policy_owner.cookie,
    "SEED_POLICY_CSRF": policy_owner.csrf,
    "SEED_POLICY_TOTP": f"{policy_secret}:{policy_step}",
}
(work / "seed.env").write_text(
    "".join(f"export {k}={shlex.quote(v)}\n" for k, v in seed.items())
)
print(
    f"seeded practice {org}: site {site} with {len(bundle_ids)} bundles (checkpoint of {checkpoint['size']} leaves), "
    "6 users, 2 API tokens, 7 sessions, 3 invitations, 2 auditor grants, a transfer request, "
    "a verification job and an evidence pack; 10 users with second factors or about to set "
    "them up (5 authenticator apps, 2 passkeys), one owning a second practice for the MFA policy",
    file=sys.stderr,
)
