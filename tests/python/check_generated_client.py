"""Calls the live portal through a client generated from openapi.json by
openapi-python-client: proves the committed spec is usable by a real client
generator, bearer scheme included. Run by scripts/api-checks."""

import os
import sys

sys.path.insert(0, os.environ["CLIENT_DIR"])

from osiris_client import AuthenticatedClient, Client  # noqa: E402
from osiris_client.api.auth import get_me  # noqa: E402
from osiris_client.api.system import get_status  # noqa: E402
from osiris_client.models import MeBody  # noqa: E402
from osiris_client.types import UNSET  # noqa: E402

api = os.environ["PORTAL_API"]
token = os.environ["PORTAL_TOKEN"]
expected_email = os.environ["EXPECT_EMAIL"]

status = get_status.sync(client=Client(base_url=api))
assert status is not None and status.status == "ok", status

me = get_me.sync(client=AuthenticatedClient(base_url=api, token=token))
assert isinstance(me, MeBody), f"expected MeBody, got {me!r}"
assert me.email == expected_email, me.email
assert me.role.value == "owner", me.role
assert me.csrf_token is UNSET, "bearer requests carry no CSRF token"

anonymous = get_me.sync_detailed(client=Client(base_url=api))
assert anonymous.status_code == 401, anonymous.status_code

forged = get_me.sync_detailed(client=AuthenticatedClient(base_url=api, token="ocp_forged"))
assert forged.status_code == 401, forged.status_code

print(f"generated client: GET /auth/me answered for {me.email} ({me.role.value}) in {me.org.name}")
