"""Where to send requests: DC endpoint from `--endpoint`/`--region`, default IAM URL, and the
plain-HTTP guard. Pure (no I/O). Hosts and regions: reference/dc-api.md §8.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bulkdel.errors import ConfigError

#: Open Telekom Cloud / T Cloud Public regions (OTC-EP).
OTC_REGIONS = ("eu-de", "eu-nl")
#: Swiss OTC. UNCONFIRMED: the DC host is inferred from other eu-ch2 hosts (`obs.eu-ch2.sc...`).
SWISS_REGIONS = ("eu-ch2",)
#: Huawei Cloud regions of the SDK's DcRegion (huaweicloudsdkdc 3.1.219).
HUAWEI_REGIONS = (
    "af-south-1",
    "cn-north-4",
    "cn-north-1",
    "cn-east-2",
    "cn-east-3",
    "cn-south-1",
    "cn-southwest-2",
    "ap-southeast-2",
    "cn-north-9",
    "ap-southeast-1",
    "ap-southeast-3",
    "sa-brazil-1",
    "la-north-2",
    "cn-south-2",
    "cn-north-2",
    "na-mexico-1",
    "la-south-2",
    "ap-southeast-4",
    "tr-west-1",
    "cn-south-4",
    "me-east-1",
    "my-kualalumpur-1",
    "eu-west-101",
    "eu-west-0",
    "cn-north-11",
    "cn-southwest-3",
    "cn-east-4",
    "cn-north-12",
    "cn-east-5",
)
KNOWN_REGIONS = OTC_REGIONS + SWISS_REGIONS + HUAWEI_REGIONS

#: SDK-CORE's IAM default; IAM is global on Huawei Cloud, so one host serves every region.
HUAWEI_GLOBAL_IAM = "https://iam.myhuaweicloud.com"


def _norm_region(region: str) -> str:
    return region.strip().lower()


def _unknown_region(region: str) -> ConfigError:
    known = ", ".join(sorted(KNOWN_REGIONS))
    return ConfigError(
        f"unknown region {region!r}; known regions: {known}. "
        "For any other cloud or region pass the base URL with --endpoint URL "
        "(env BULKDEL_ENDPOINT), e.g. --endpoint https://dcaas.eu-de.otc.t-systems.com"
    )


def validate_base_url(url: str, *, what: str = "--endpoint") -> str:
    """Check a base URL (http/https, host, no path/query/credentials); return it without `/`."""
    raw = url.strip()
    # A URL with user:password@ is never echoed back: it holds a credential.
    text = raw if "@" not in raw else "<URL with user info>"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(
            f"{what} {text!r} must start with https:// (or http:// for a local simulator), "
            "e.g. https://dcaas.eu-de.otc.t-systems.com"
        )
    try:
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{what} {text!r} has an invalid port; use host[:port]") from None
    if not parts.hostname:
        raise ConfigError(
            f"{what} {text!r} has no host name; e.g. https://dcaas.eu-de.otc.t-systems.com"
        )
    if parts.username is not None or parts.password is not None:
        # Never echo the URL: it holds a credential.
        raise ConfigError(
            f"{what} must not contain user:password@; put credentials in the environment "
            "(BULKDEL_TOKEN, HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK or BULKDEL_PASSWORD)"
        )
    if parts.path not in ("", "/"):
        raise ConfigError(
            f"{what} {text!r} must be the base URL without a path (bulkdel adds "
            f"/v3/{{project_id}}/dcaas/...); use {scheme}://{parts.netloc}"
        )
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ConfigError(
            f"{what} {text!r} must not have a query or fragment; use {scheme}://{parts.netloc}"
        )
    return f"{scheme}://{parts.netloc}"


def resolve_endpoint(endpoint: str | None, region: str | None) -> str:
    """The DC base URL: `--endpoint` if given (validated), else the region's known host."""
    if endpoint:
        return validate_base_url(endpoint)
    if not region or not region.strip():
        raise ConfigError(
            "no DC endpoint: pass --endpoint URL (env BULKDEL_ENDPOINT) or --region NAME "
            "(e.g. --region eu-de)"
        )
    name = _norm_region(region)
    if name in OTC_REGIONS:
        return f"https://dcaas.{name}.otc.t-systems.com"
    if name in SWISS_REGIONS:
        # UNCONFIRMED host (reference §8); --endpoint overrides it if it turns out wrong.
        return f"https://dcaas.{name}.sc.otc.t-systems.com"
    if name in HUAWEI_REGIONS:
        return f"https://dcaas.{name}.myhuaweicloud.com"
    raise _unknown_region(region)


def default_auth_url(region: str | None) -> str | None:
    """The IAM base URL for a region, or None when it is unknown (then `--auth-url` is needed).

    OTC: `https://iam.{region}.otc.t-systems.com`. Swiss eu-ch2: `iam-pub.eu-ch2.sc...`
    (UNCONFIRMED, seen in public configs). Huawei: the global `https://iam.myhuaweicloud.com`,
    which issues project-scoped tokens for every region.
    """
    if not region:
        return None
    name = _norm_region(region)
    if name in OTC_REGIONS:
        return f"https://iam.{name}.otc.t-systems.com"
    if name in SWISS_REGIONS:
        return f"https://iam-pub.{name}.sc.otc.t-systems.com"
    if name in HUAWEI_REGIONS:
        return HUAWEI_GLOBAL_IAM
    return None


def is_loopback_host(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (what may be spoken to in plain HTTP)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_transport(url: str, *, insecure_http: bool) -> None:
    """Refuse plain `http://` to anything but loopback unless `--insecure-http` is set."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or insecure_http:
        return
    host = parts.hostname or ""
    if is_loopback_host(host):
        return
    raise ConfigError(
        f"refusing plain http:// to {host or url!r}: tokens and signed requests would cross "
        "the network unencrypted. Use https://, or pass --insecure-http if this really is a "
        "trusted test network"
    )
