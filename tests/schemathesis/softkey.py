"""A software passkey for scripts/api-checks: answers the portal's WebAuthn
options the way a browser and a platform authenticator would, so that the
passkey operations can be reached without a browser (the Rust tests drive
Chromium's virtual authenticator for the real thing).

From the W3C WebAuthn Level 2 recommendation: client data (5.8.1),
authenticator data (6.1), the "none" attestation format (8.7) in a CBOR
attestation object (6.5), an ES256 COSE key (RFC 9053, RFC 9052 7) and an
assertion signature over authenticatorData || SHA-256(clientDataJSON)
(6.3.3). User presence and verification are always claimed, as a
platform authenticator with a PIN or biometric would.
"""

import base64
import hashlib
import json
import os

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftKey:
    """One credential: an EC P-256 key and its id."""

    def __init__(self, private_pem: bytes | None = None, credential_id: bytes | None = None):
        self.key = (
            serialization.load_pem_private_key(private_pem, password=None)
            if private_pem
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.credential_id = credential_id or os.urandom(32)

    def private_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def _client_data(self, kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def register(self, options: dict, origin: str) -> dict:
        """The answer to `{"publicKey": …}` from create_passkey_challenge."""
        public_key = options["publicKey"]
        rp_id = public_key["rp"]["id"]
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        numbers = self.key.public_key().public_numbers()
        cose_key = cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([UP | UV | AT])
            + (0).to_bytes(4, "big")  # signature counter: not kept
            + bytes(16)  # AAGUID: none
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + cose_key
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64url(attestation),
                "clientDataJSON": b64url(client_data),
                "transports": ["internal"],
            },
            "extensions": {},
        }

    def assert_(self, options: dict, origin: str) -> dict:
        """The answer to `{"publicKey": …}` from a sign-in's challenge."""
        public_key = options["publicKey"]
        rp_id = public_key["rpId"]
        client_data = self._client_data("webauthn.get", public_key["challenge"], origin)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([UP | UV])
            + (0).to_bytes(4, "big")
        )
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64url(auth_data),
                "clientDataJSON": b64url(client_data),
                "signature": b64url(signature),
                "userHandle": None,
            },
            "extensions": {},
        }
