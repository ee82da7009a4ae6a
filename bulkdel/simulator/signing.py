"""AK/SK verification for the simulator, backed by bulkdel.signer (the client's own signer)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bulkdel.simulator.config import SignatureVerifier


def signer_verifier(ak: str, sk: str) -> SignatureVerifier:
    """A `SimConfig.verify_signature` that accepts requests signed with this ak/sk.

    Verifies like the API gateway: signature over the listed headers, `X-Sdk-Date` within the
    allowed skew of the server's clock.
    """
    # Imported lazily so the simulator loads even while the signer module is being changed.
    from bulkdel.signer import verify_request

    secrets = {ak: sk}

    def verify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> bool:
        result = verify_request(
            method, path, query, headers, body, secrets_by_ak=secrets, now=datetime.now(UTC)
        )
        return result.ok

    return verify
