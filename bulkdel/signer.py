"""AK/SK request signing, `SDK-HMAC-SHA256`, as the official Huawei Cloud Python SDK does it.

Pure: no clock, no I/O. The caller passes the `X-Sdk-Date` value (`%Y%m%dT%H%M%SZ`, UTC) when
signing and the current time when verifying. Steps (reference §7b):

1. CanonicalRequest = METHOD, canonical URI (percent-decoded path, each segment re-quoted with
   `safe='~'`, trailing `/`), canonical query (pairs sorted, quoted with `safe='~'`), canonical
   headers (`name:value` for every signed header), signed header names (every header,
   lowercased and sorted, except names containing `_`), hex SHA-256 of the body; joined by `\\n`.
2. StringToSign = `SDK-HMAC-SHA256\\n{X-Sdk-Date}\\n{hex(sha256(CanonicalRequest))}`.
3. Signature = hex(HMAC-SHA256(SK, StringToSign)); the SK is the key itself, no derivation.
4. `Authorization: SDK-HMAC-SHA256 Access={AK}, SignedHeaders={h1;h2}, Signature={hex}`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: How far `X-Sdk-Date` may be from the server's clock (APIG answers APIG.0303 beyond this).
MAX_SKEW_S = 900.0

#: A query as a raw string (`a=1&b=2`, percent-encoded) or as decoded (key, value) pairs.
Query = str | Iterable[tuple[str, str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class VerifyFailure(StrEnum):
    """Why a signature was not accepted."""

    UNKNOWN_AK = "unknown AK"
    BAD_SIGNATURE = "bad signature"
    EXPIRED = "signature expired"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on one signed request; `detail` is safe to show (no secrets)."""

    ok: bool
    reason: VerifyFailure | None = None
    ak: str | None = None
    detail: str = ""


def format_sdk_date(moment: datetime) -> str:
    """`X-Sdk-Date` for an aware datetime (converted to UTC)."""
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def parse_sdk_date(value: str) -> datetime:
    """Parse `X-Sdk-Date` (`20240101T000000Z`) into an aware UTC datetime; ValueError if bad."""
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)


def canonical_uri(path: str) -> str:
    """Percent-decode the path, re-quote each segment with `safe='~'`, end with `/`."""
    segments = unquote(path).split("/")
    uri = "/".join(quote(seg, safe="~") for seg in segments)
    if not uri.endswith("/"):
        uri += "/"
    return uri


def query_pairs(query: Query | None) -> list[tuple[str, str]]:
    """Decoded (key, value) pairs from a raw query string or an iterable of pairs."""
    if query is None:
        return []
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    return [(str(k), str(v)) for k, v in query]


def canonical_query(query: Query | None) -> str:
    """Pairs sorted (repeated keys by value), each side quoted with `safe='~'`, `&`-joined."""
    pairs = sorted(query_pairs(query))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Every header name lowercased and sorted, except names containing `_` (SDK rule)."""
    return sorted({name.lower() for name in headers if "_" not in name})


def payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    """Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` when the request says so."""
    if _lower_headers(headers).get("x-sdk-content-sha256") == UNSIGNED_PAYLOAD:
        return UNSIGNED_PAYLOAD
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str,
    path: str,
    query: Query | None,
    headers: Mapping[str, str],
    body: bytes,
    signed_headers: Sequence[str] | None = None,
) -> str:
    """The canonical request; `signed_headers` defaults to every eligible header.

    Raises KeyError when a name in `signed_headers` is not among `headers`.
    """
    lowered = _lower_headers(headers)
    names = list(signed_headers) if signed_headers is not None else signed_header_names(headers)
    canonical_headers = "".join(f"{name}:{lowered[name].strip()}\n" for name in names)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers,
            ";".join(names),
            payload_hash(headers, body),
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    """`SDK-HMAC-SHA256`, the date and the hex SHA-256 of the canonical request."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(sk: str, to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign, keyed with the SK itself."""
    return hmac.new(sk.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def host_header(url: str) -> str:
    """The `Host` value for a URL: host name, plus `:port` when it is not the scheme default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return host


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    ak: str,
    sk: str,
    sdk_date: str,
) -> dict[str, str]:
    """Sign a request; return the headers to add (`Authorization`, and `X-Sdk-Date`/`Host`
    when `headers` lacks them).

    As in the SDK, an `X-Sdk-Date` already in `headers` is kept and signed instead of
    `sdk_date`, and a non-JSON `Content-Type` gets `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`.
    An `Authorization` already in `headers` is never signed (it is replaced).
    """
    lowered = _lower_headers(headers)
    added: dict[str, str] = {}
    if "x-sdk-date" in lowered:
        sdk_date = lowered["x-sdk-date"]
    else:
        added["X-Sdk-Date"] = sdk_date
    if "host" not in lowered:
        added["Host"] = host_header(url)
    content_type = lowered.get("content-type")
    if (
        content_type is not None
        and not content_type.startswith(("application/json", "application/bson"))
        and "x-sdk-content-sha256" not in lowered
    ):
        added["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
    to_sign_headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    to_sign_headers.update(added)
    parts = urlsplit(url)
    names = signed_header_names(to_sign_headers)
    canonical = canonical_request(method, parts.path, parts.query, to_sign_headers, body, names)
    sig = signature(sk, string_to_sign(canonical, sdk_date))
    added["Authorization"] = (
        f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(names)}, Signature={sig}"
    )
    return added


@dataclass(frozen=True, slots=True)
class ParsedAuthorization:
    """The three fields of an `SDK-HMAC-SHA256` Authorization header."""

    access: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Split `SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..`; None if malformed."""
    prefix = ALGORITHM + " "
    if not value.startswith(prefix):
        return None
    fields: dict[str, str] = {}
    for item in value[len(prefix) :].split(","):
        key, sep, val = item.strip().partition("=")
        if not sep or key in fields:
            return None
        fields[key] = val.strip()
    if set(fields) != {"Access", "SignedHeaders", "Signature"}:
        return None
    names = tuple(fields["SignedHeaders"].split(";"))
    if not fields["Access"] or not fields["Signature"] or any(not n for n in names):
        return None
    return ParsedAuthorization(fields["Access"], names, fields["Signature"])


def verify_request(
    method: str,
    path: str,
    query: Query | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets_by_ak: Mapping[str, str],
    now: datetime,
    max_skew_s: float = MAX_SKEW_S,
) -> VerifyResult:
    """Check an `SDK-HMAC-SHA256` signature the way the API gateway would.

    `path` is the path as sent on the wire, still percent-encoded (aiohttp: `request.raw_path`;
    a `?query` suffix is split off and used when `query` is None). `query` may be decoded pairs
    (`request.query.items()`) or a raw query string. The signature is recomputed over the header
    names the request's SignedHeaders lists. A request whose signature is right but whose
    `X-Sdk-Date` is more than `max_skew_s` from `now` is "signature expired".
    """
    if query is None and "?" in path:
        path, _, query = path.partition("?")
    lowered = _lower_headers(headers)
    auth = lowered.get("authorization")
    if auth is None:
        return VerifyResult(False, VerifyFailure.MALFORMED, detail="no Authorization header")
    parsed = parse_authorization(auth)
    if parsed is None:
        return VerifyResult(
            False, VerifyFailure.MALFORMED, detail="Authorization is not SDK-HMAC-SHA256"
        )
    ak = parsed.access
    date_value = lowered.get("x-sdk-date")
    if date_value is None:
        return VerifyResult(False, VerifyFailure.MALFORMED, ak, "no X-Sdk-Date header")
    try:
        signed_at = parse_sdk_date(date_value)
    except ValueError:
        return VerifyResult(
            False, VerifyFailure.MALFORMED, ak, "X-Sdk-Date is not yyyymmddThhmmssZ"
        )
    missing = [n for n in parsed.signed_headers if n not in lowered]
    if missing:
        return VerifyResult(
            False, VerifyFailure.MALFORMED, ak, f"signed header(s) not sent: {';'.join(missing)}"
        )
    sk = secrets_by_ak.get(ak)
    if sk is None:
        return VerifyResult(False, VerifyFailure.UNKNOWN_AK, ak, "access key not known")
    canonical = canonical_request(method, path, query, headers, body, parsed.signed_headers)
    expected = signature(sk, string_to_sign(canonical, date_value))
    if not hmac.compare_digest(expected, parsed.signature.lower()):
        return VerifyResult(False, VerifyFailure.BAD_SIGNATURE, ak, "signature does not match")
    skew = abs((now - signed_at).total_seconds())
    if skew > max_skew_s:
        return VerifyResult(
            False,
            VerifyFailure.EXPIRED,
            ak,
            f"X-Sdk-Date is {skew:.0f} s from server time (limit {max_skew_s:.0f} s)",
        )
    return VerifyResult(True, None, ak)
