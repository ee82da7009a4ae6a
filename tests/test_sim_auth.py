"""Tests for bulkdel.simulator.auth: token verdicts and IAM body parsing."""

from __future__ import annotations

from bulkdel.simulator.auth import TokenStore, check_headers, parse_password_auth


def test_token_verdicts() -> None:
    """Static and unexpired tokens pass; expired and unknown are 401; forbidden is 403."""
    store = TokenStore("static", frozenset({"weak"}))
    store.add("issued", expires_at=100.0)
    assert store.check("static", 1e12).ok
    assert store.check("issued", 99.0).ok
    assert store.check("issued", 100.0).status == 401
    assert "expire" in store.check("issued", 100.0).error_msg
    assert store.check("other", 0.0).error_code == "APIGW.0301"
    assert store.check("weak", 0.0).status == 403


def test_header_verdicts() -> None:
    """A token wins over AK/SK; AK/SK follows the verifier; nothing at all is a 401."""
    store = TokenStore("static")
    aksk = {"Authorization": "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=0"}
    assert check_headers({"X-Auth-Token": "static"}, store, 0.0, signature_ok=None).ok
    assert check_headers(aksk, store, 0.0, signature_ok=True).ok
    assert check_headers(aksk, store, 0.0, signature_ok=False).status == 401
    assert "not enabled" in check_headers(aksk, store, 0.0, signature_ok=None).error_msg
    assert "not found" in check_headers({}, store, 0.0, signature_ok=None).error_msg


def test_parse_password_auth() -> None:
    """The user, password, domain and project scope are read; malformed bodies say why."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "u", "password": "p", "domain": {"name": "d"}}},
            },
            "scope": {"project": {"name": "eu-de"}},
        }
    }
    parsed = parse_password_auth(body)
    assert not isinstance(parsed, str)
    assert (parsed.user, parsed.password, parsed.domain, parsed.project_name) == (
        "u",
        "p",
        "d",
        "eu-de",
    )
    assert isinstance(parse_password_auth({"auth": {}}), str)
    assert isinstance(parse_password_auth(None), str)
