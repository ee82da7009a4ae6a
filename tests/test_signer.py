"""Tests of SDK-HMAC-SHA256 signing: the reference's known-answer vectors and invariants."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulkdel.signer import (
    VerifyFailure,
    canonical_query,
    canonical_request,
    canonical_uri,
    format_sdk_date,
    host_header,
    parse_authorization,
    sign_request,
    signed_header_names,
    string_to_sign,
    verify_request,
)

# KAT-1: the official signing-guide example (reference §7c).
KAT1_AK = "QTWAOYTTINDUT2QVKYUC"
KAT1_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
KAT1_URL = (
    "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
    "?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
)
KAT1_HEADERS = {
    "Content-Type": "application/json",
    "Host": "service.region.example.com",
    "X-Sdk-Date": "20191115T033655Z",
}

# KAT-2: the SDK's own unit test.
KAT2_URL = "https://service.endpoint.myhuaweicloud.com/resources?size=1"
KAT2_HEADERS = {"X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "TEST_VALUE"}

# KAT-4: DC-shaped requests.
KAT4_PROJECT = "0605768a3300d5762f82c01180692873"
KAT4_BASE = f"https://dcaas.eu-west-0.myhuaweicloud.com/v3/{KAT4_PROJECT}/dcaas"
KAT4_HEADERS = {
    "Content-Type": "application/json",
    "Host": "dcaas.eu-west-0.myhuaweicloud.com",
    "X-Project-Id": KAT4_PROJECT,
}
KAT4_DATE = "20240101T000000Z"
KAT4_PEER = "68250543-0a13-4ac7-aa36-d018856ac640"
KAT4_MARKER = "0d0fdf63-f2c4-491c-8866-d504796189be"


def _hashed_canonical(method: str, url: str, headers: dict[str, str], body: bytes = b"") -> str:
    parts = urlsplit(url)
    text = canonical_request(method, parts.path, parts.query, headers, body)
    return hashlib.sha256(text.encode()).hexdigest()


def test_kat1_official_example() -> None:
    """The signing guide's GET gives its published hash and Authorization header."""
    assert (
        _hashed_canonical("GET", KAT1_URL, KAT1_HEADERS)
        == "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
    )
    added = sign_request("GET", KAT1_URL, KAT1_HEADERS, b"", KAT1_AK, KAT1_SK, "unused")
    assert added == {
        "Authorization": "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, "
        "SignedHeaders=content-type;host;x-sdk-date, "
        "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    }


def test_kat1_without_content_type() -> None:
    """Dropping Content-Type drops it from SignedHeaders and changes the signature."""
    headers = {k: v for k, v in KAT1_HEADERS.items() if k != "Content-Type"}
    added = sign_request("GET", KAT1_URL, headers, b"", KAT1_AK, KAT1_SK, "unused")
    assert added["Authorization"].endswith(
        "SignedHeaders=host;x-sdk-date, "
        "Signature=faafba090046ef84c81ca330e77576d8746733ddfcf0317aaeb59cff50da39a7"
    )


@pytest.mark.parametrize(
    ("method", "body", "sig"),
    [
        ("GET", b"", "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"),
        (
            "POST",
            b'{"name":"test","id":1}',
            "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f",
        ),
    ],
)
def test_kat2_sdk_unit_test_vectors(method: str, body: bytes, sig: str) -> None:
    """The SDK test vectors match; the underscore header is left unsigned and Host is added."""
    added = sign_request(method, KAT2_URL, KAT2_HEADERS, body, "AccessKey", "SecretKey", "x")
    assert added["Host"] == "service.endpoint.myhuaweicloud.com"
    assert added["Authorization"] == (
        f"SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, Signature={sig}"
    )
    assert "X-Sdk-Date" not in added  # the header's own date was kept


def test_kat4_delete() -> None:
    """The DC-shaped DELETE matches the canonical URI, hash and signature of the reference."""
    url = f"{KAT4_BASE}/vif-peers/{KAT4_PEER}"
    headers = {**KAT4_HEADERS, "X-Sdk-Date": KAT4_DATE}
    text = canonical_request("DELETE", urlsplit(url).path, "", headers, b"")
    assert text.split("\n")[1].endswith(f"/{KAT4_PEER}/")
    assert (
        _hashed_canonical("DELETE", url, headers)
        == "75d3b4c6fc28fd2da150eb51bc8e2912f47b15d402690e9afb63d8f1a5b235ff"
    )
    added = sign_request("DELETE", url, KAT4_HEADERS, b"", "AK_EXAMPLE", "SK_EXAMPLE", KAT4_DATE)
    assert added == {
        "X-Sdk-Date": KAT4_DATE,
        "Authorization": "SDK-HMAC-SHA256 Access=AK_EXAMPLE, "
        "SignedHeaders=content-type;host;x-project-id;x-sdk-date, "
        "Signature=ae40588ad2803b02861aba2666ae995e0646366f09f00dddb46c39f548738692",
    }


def test_kat4_get_with_repeated_id() -> None:
    """Repeated `id` keys are sorted by value, and the result matches the reference."""
    url = f"{KAT4_BASE}/virtual-interfaces?limit=2&marker={KAT4_MARKER}&id=b&id=a"
    assert canonical_query(urlsplit(url).query) == f"id=a&id=b&limit=2&marker={KAT4_MARKER}"
    added = sign_request("GET", url, KAT4_HEADERS, b"", "AK_EXAMPLE", "SK_EXAMPLE", KAT4_DATE)
    assert added["Authorization"].endswith(
        "Signature=272c6d1c86719804be9491820ce3746353ec71f91b73c41428ed251fda5a6468"
    )


def test_canonical_uri_decodes_requotes_and_appends_slash() -> None:
    """Segments are decoded then quoted with only `~` safe; a trailing slash is added once."""
    assert canonical_uri("") == "/"
    assert canonical_uri("/a b/c%7Ed") == "/a%20b/c~d/"
    assert canonical_uri("/x/") == "/x/"
    assert canonical_uri("/a%2Fb") == "/a/b/"  # decoded first, as the SDK does


def test_canonical_query_encoding() -> None:
    """Spaces become %20, `~` stays, blank values are kept, pairs come in sorted order."""
    assert canonical_query([("b", "x y"), ("a", "1~"), ("a", "")]) == "a=&a=1~&b=x%20y"
    assert canonical_query("q=a+b&r=%2F") == "q=a%20b&r=%2F"
    assert canonical_query(None) == ""


def test_signed_headers_skip_underscores_and_lowercase() -> None:
    """Header names are lowercased and sorted; names with `_` are never signed."""
    assert signed_header_names({"X-B": "1", "a": "2", "X_C": "3"}) == ["a", "x-b"]


def test_header_values_are_stripped() -> None:
    """Surrounding whitespace in a header value does not change the canonical request."""
    one = canonical_request("GET", "/", "", {"Host": " h "}, b"")
    two = canonical_request("GET", "/", "", {"Host": "h"}, b"")
    assert one == two


def test_string_to_sign_shape() -> None:
    """The string to sign is algorithm, date and the hex hash of the canonical request."""
    assert string_to_sign("abc", "20240101T000000Z") == (
        "SDK-HMAC-SHA256\n20240101T000000Z\n" + hashlib.sha256(b"abc").hexdigest()
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://h.example:443/x", "h.example"),
        ("http://127.0.0.1:42987/v3", "127.0.0.1:42987"),
        ("https://h.example:8443", "h.example:8443"),
        ("http://[::1]:8080/", "[::1]:8080"),
    ],
)
def test_host_header_keeps_non_default_port(url: str, host: str) -> None:
    """Host carries the port only when it is not the scheme's default."""
    assert host_header(url) == host


def test_non_json_content_type_is_unsigned_payload() -> None:
    """A non-JSON Content-Type adds X-Sdk-Content-Sha256 and the body is not hashed."""
    headers = {"Content-Type": "text/plain", "Host": "h"}
    added = sign_request("PUT", "https://h/x", headers, b"data", "AK", "SK", KAT4_DATE)
    assert added["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    sent = {**headers, **added}
    now = datetime(2024, 1, 1, tzinfo=UTC)
    for body in (b"data", b"other"):
        result = verify_request("PUT", "/x", "", sent, body, secrets_by_ak={"AK": "SK"}, now=now)
        assert result.ok


def test_stale_authorization_is_not_signed() -> None:
    """An Authorization header already present is replaced, never signed."""
    headers = {**KAT4_HEADERS, "Authorization": "old"}
    added = sign_request("GET", KAT4_BASE, headers, b"", "AK", "SK", KAT4_DATE)
    assert "authorization" not in added["Authorization"].split("SignedHeaders=")[1]


# ---- verification ------------------------------------------------------------------------

SIGN_TIME = datetime(2024, 1, 1, tzinfo=UTC)
SECRETS = {"AK_EXAMPLE": "SK_EXAMPLE"}


def _signed(
    method: str = "DELETE",
    url: str = f"{KAT4_BASE}/vif-peers/{KAT4_PEER}",
    body: bytes = b"",
) -> dict[str, str]:
    headers = dict(KAT4_HEADERS)
    headers.update(sign_request(method, url, headers, body, "AK_EXAMPLE", "SK_EXAMPLE", KAT4_DATE))
    return headers


def _verify(headers: dict[str, str], **kw: object) -> VerifyFailure | None:
    args: dict[str, object] = {
        "method": "DELETE",
        "path": f"/v3/{KAT4_PROJECT}/dcaas/vif-peers/{KAT4_PEER}",
        "query": "",
        "headers": headers,
        "body": b"",
    }
    args.update(kw)
    result = verify_request(
        args["method"],  # type: ignore[arg-type]
        args["path"],  # type: ignore[arg-type]
        args["query"],  # type: ignore[arg-type]
        args["headers"],  # type: ignore[arg-type]
        args["body"],  # type: ignore[arg-type]
        secrets_by_ak=SECRETS,
        now=kw.get("now", SIGN_TIME),  # type: ignore[arg-type]
    )
    assert result.ok == (result.reason is None)
    return result.reason


def test_verify_accepts_a_signed_request() -> None:
    """A request signed by sign_request verifies and reports its AK."""
    result = verify_request(
        "DELETE",
        f"/v3/{KAT4_PROJECT}/dcaas/vif-peers/{KAT4_PEER}",
        None,
        _signed(),
        b"",
        secrets_by_ak=SECRETS,
        now=SIGN_TIME,
    )
    assert result.ok
    assert result.ak == "AK_EXAMPLE"


def test_verify_reads_the_query_from_the_path() -> None:
    """A path with `?query` and no separate query verifies like the split form."""
    url = f"{KAT4_BASE}/virtual-interfaces?limit=2&id=b&id=a"
    headers = _signed("GET", url)
    path = urlsplit(url).path + "?id=a&limit=2&id=b"
    assert _verify(headers, method="GET", path=path, query=None) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "GET"}, VerifyFailure.BAD_SIGNATURE),
        ({"path": f"/v3/{KAT4_PROJECT}/dcaas/vif-peers/other"}, VerifyFailure.BAD_SIGNATURE),
        ({"query": "limit=1"}, VerifyFailure.BAD_SIGNATURE),
        ({"body": b"x"}, VerifyFailure.BAD_SIGNATURE),
        ({"now": SIGN_TIME + timedelta(minutes=15, seconds=1)}, VerifyFailure.EXPIRED),
        ({"now": SIGN_TIME - timedelta(minutes=16)}, VerifyFailure.EXPIRED),
    ],
)
def test_verify_rejects_changed_requests(change: dict[str, object], reason: VerifyFailure) -> None:
    """Any change to a signed part is a bad signature; a stale date is expired."""
    assert _verify(_signed(), **change) == reason


def test_verify_allows_skew_up_to_fifteen_minutes() -> None:
    """Exactly 15 minutes off is still accepted."""
    assert _verify(_signed(), now=SIGN_TIME + timedelta(minutes=15)) is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: h.update({"X-Project-Id": "f" * 32}), VerifyFailure.BAD_SIGNATURE),
        (lambda h: h.update({"Host": "evil.example"}), VerifyFailure.BAD_SIGNATURE),
        (lambda h: h.update({"X-Sdk-Date": "20240101T000001Z"}), VerifyFailure.BAD_SIGNATURE),
        (lambda h: h.pop("X-Project-Id"), VerifyFailure.MALFORMED),
        (lambda h: h.pop("X-Sdk-Date"), VerifyFailure.MALFORMED),
        (lambda h: h.pop("Authorization"), VerifyFailure.MALFORMED),
        (lambda h: h.update({"X-Sdk-Date": "2024-01-01"}), VerifyFailure.MALFORMED),
        (lambda h: h.update({"Authorization": "Bearer x"}), VerifyFailure.MALFORMED),
        (
            lambda h: h.update({"Authorization": h["Authorization"].replace("AK_EX", "AK_NO")}),
            VerifyFailure.UNKNOWN_AK,
        ),
        (
            lambda h: h.update({"Authorization": h["Authorization"][:-1] + "0"}),
            VerifyFailure.BAD_SIGNATURE,
        ),
    ],
)
def test_verify_header_tampering(mutate: object, reason: VerifyFailure) -> None:
    """Changing, dropping or forging a signed header is detected with the right reason."""
    headers = _signed()
    mutate(headers)  # type: ignore[operator]
    assert _verify(headers) == reason


def test_verify_ignores_unsigned_extra_headers() -> None:
    """Headers added after signing (proxies, User-Agent) do not break verification."""
    headers = {**_signed(), "User-Agent": "x", "Accept-Encoding": "gzip"}
    assert _verify(headers) is None


def test_verify_is_case_insensitive_on_header_names() -> None:
    """A server that lowercases header names still verifies the request."""
    headers = {k.lower(): v for k, v in _signed().items()}
    assert _verify(headers) is None


def test_parse_authorization_rejects_partial_headers() -> None:
    """An Authorization header missing a field or with an empty one is malformed."""
    assert parse_authorization("SDK-HMAC-SHA256 Access=A, SignedHeaders=host") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=A, SignedHeaders=, Signature=s") is None
    parsed = parse_authorization("SDK-HMAC-SHA256 Access=A, SignedHeaders=a;b, Signature=s")
    assert parsed is not None
    assert parsed.signed_headers == ("a", "b")


_token = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)
_header_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20
)


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, str]], dict[str, str], bytes]:
    method = draw(st.sampled_from(["GET", "DELETE", "POST", "PUT"]))
    segments = draw(st.lists(_token, max_size=4))
    path = "/" + "/".join(segments)
    query = draw(st.lists(st.tuples(_token, _token), max_size=4))
    names = draw(st.lists(st.from_regex(r"x-[a-z]{1,8}", fullmatch=True), max_size=3, unique=True))
    headers = {"Host": "dcaas.example.test"}
    headers.update({n: draw(_header_value) for n in names})
    body = draw(st.binary(max_size=64))
    return method, path, query, headers, body


def _as_url(path: str, query: list[tuple[str, str]]) -> str:
    encoded = "/".join(quote(seg, safe="") for seg in path.split("/"))
    return f"https://dcaas.example.test{encoded}?{urlencode(query)}"


@settings(max_examples=150, deadline=None)
@given(_requests())
def test_property_verify_of_sign_holds(
    req: tuple[str, str, list[tuple[str, str]], dict[str, str], bytes],
) -> None:
    """Whatever the method, path, query, headers and body, a signed request verifies."""
    method, path, query, headers, body = req
    url = _as_url(path, query)
    headers = {**headers, **sign_request(method, url, headers, body, "A", "S", KAT4_DATE)}
    # The verifier gets the path as it is on the wire (percent-encoded), like aiohttp's raw_path.
    path = urlsplit(url).path
    result = verify_request(
        method, path, query, headers, body, secrets_by_ak={"A": "S"}, now=SIGN_TIME
    )
    assert result.ok, result.detail


@settings(max_examples=150, deadline=None)
@given(_requests(), st.data())
def test_property_tampering_any_signed_part_fails(
    req: tuple[str, str, list[tuple[str, str]], dict[str, str], bytes], data: st.DataObject
) -> None:
    """Changing the method, path, query, body or any signed header value fails verification."""
    method, path, query, headers, body = req
    url = _as_url(path, query)
    headers = {**headers, **sign_request(method, url, headers, body, "A", "S", KAT4_DATE)}
    path = urlsplit(url).path
    part = data.draw(st.sampled_from(["method", "path", "query", "body", "header"]))
    if part == "method":
        method = "PATCH"
    elif part == "path":
        path = path + "/extra"
    elif part == "query":
        query = [*query, ("zz-added", "1")]
    elif part == "body":
        body = body + b"!"
    else:
        name = data.draw(
            st.sampled_from(sorted(k for k in headers if k not in ("Authorization", "X-Sdk-Date")))
        )
        headers[name] = headers[name] + "!"
    result = verify_request(
        method, path, query, headers, body, secrets_by_ak={"A": "S"}, now=SIGN_TIME
    )
    assert not result.ok
    assert result.reason == VerifyFailure.BAD_SIGNATURE


def test_format_sdk_date_converts_to_utc() -> None:
    """An aware datetime in another zone is formatted in UTC."""
    moment = datetime(2024, 1, 1, 2, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_sdk_date(moment) == "20240101T000000Z"
