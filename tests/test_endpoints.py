"""Tests of endpoint resolution, default IAM URLs and the plain-HTTP guard."""

from __future__ import annotations

import pytest

from bulkdel.endpoints import (
    HUAWEI_REGIONS,
    check_transport,
    default_auth_url,
    is_loopback_host,
    resolve_endpoint,
)
from bulkdel.errors import ConfigError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://dcaas.eu-de.otc.t-systems.com", "https://dcaas.eu-de.otc.t-systems.com"),
        ("https://dcaas.eu-de.otc.t-systems.com/", "https://dcaas.eu-de.otc.t-systems.com"),
        ("HTTP://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("  https://h.example:8443  ", "https://h.example:8443"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_endpoint_flag_is_normalised(given: str, expected: str) -> None:
    """A valid --endpoint comes back without a trailing slash, scheme lowercased."""
    assert resolve_endpoint(given, None) == expected


def test_endpoint_flag_wins_over_region() -> None:
    """--endpoint is used even when a region is also given."""
    assert resolve_endpoint("https://sim.example", "eu-de") == "https://sim.example"


@pytest.mark.parametrize(
    ("given", "needle"),
    [
        ("dcaas.eu-de.otc.t-systems.com", "must start with https://"),
        ("ftp://h.example", "must start with https://"),
        ("https://", "no host name"),
        ("https://h.example/v3/abc", "without a path"),
        ("https://h.example/v2.0", "use https://h.example"),
        ("https://h.example?x=1", "query or fragment"),
        ("https://h.example/#frag", "query or fragment"),
        ("https://h.example:99999", "invalid port"),
    ],
)
def test_bad_endpoint_is_refused_with_a_fix(given: str, needle: str) -> None:
    """Each malformed --endpoint gets a ConfigError that says what to change."""
    with pytest.raises(ConfigError, match="--endpoint") as err:
        resolve_endpoint(given, None)
    assert needle in str(err.value)


def test_endpoint_with_credentials_is_refused_without_echoing_them() -> None:
    """user:password@ in the endpoint is refused and the password never shows up."""
    with pytest.raises(ConfigError) as err:
        resolve_endpoint("https://bob:hunter2pw@h.example", None)
    assert "hunter2pw" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        resolve_endpoint("ftp://bob:hunter2pw@h.example", None)
    assert "hunter2pw" not in str(err.value)


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-de", "https://dcaas.eu-de.otc.t-systems.com"),
        ("EU-NL", "https://dcaas.eu-nl.otc.t-systems.com"),
        ("eu-ch2", "https://dcaas.eu-ch2.sc.otc.t-systems.com"),
        ("ap-southeast-1", "https://dcaas.ap-southeast-1.myhuaweicloud.com"),
        ("eu-west-0", "https://dcaas.eu-west-0.myhuaweicloud.com"),
    ],
)
def test_region_maps_to_its_dc_host(region: str, expected: str) -> None:
    """OTC, Swiss and Huawei regions map to their documented (or inferred) DC hosts."""
    assert resolve_endpoint(None, region) == expected


def test_every_sdk_region_is_known() -> None:
    """All 29 regions of the SDK's DcRegion resolve to dcaas.{region}.myhuaweicloud.com."""
    assert len(HUAWEI_REGIONS) == 29
    for region in HUAWEI_REGIONS:
        assert resolve_endpoint(None, region) == f"https://dcaas.{region}.myhuaweicloud.com"


def test_unknown_region_lists_known_ones_and_suggests_endpoint() -> None:
    """An unknown region names the known regions and --endpoint."""
    with pytest.raises(ConfigError) as err:
        resolve_endpoint(None, "mars-1")
    text = str(err.value)
    assert "mars-1" in text
    assert "eu-de" in text
    assert "cn-north-4" in text
    assert "--endpoint" in text


def test_nothing_given_says_what_to_pass() -> None:
    """Neither endpoint nor region is a ConfigError naming both options."""
    with pytest.raises(ConfigError, match=r"--endpoint.*--region"):
        resolve_endpoint(None, None)
    with pytest.raises(ConfigError, match=r"--endpoint.*--region"):
        resolve_endpoint("", "  ")


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-de", "https://iam.eu-de.otc.t-systems.com"),
        ("eu-nl", "https://iam.eu-nl.otc.t-systems.com"),
        ("eu-ch2", "https://iam-pub.eu-ch2.sc.otc.t-systems.com"),
        ("cn-north-4", "https://iam.myhuaweicloud.com"),
        ("mars-1", None),
        (None, None),
    ],
)
def test_default_auth_url(region: str | None, expected: str | None) -> None:
    """Known regions get their IAM URL; unknown ones get None (then --auth-url is needed)."""
    assert default_auth_url(region) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.9.9.9",
        "http://localhost:1",
        "http://LOCALHOST.",
        "http://[::1]:8080",
        "https://dcaas.eu-de.otc.t-systems.com",
    ],
)
def test_https_and_loopback_http_are_allowed(url: str) -> None:
    """https anywhere and plain http to loopback pass without --insecure-http."""
    check_transport(url, insecure_http=False)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1", "http://dcaas.example", "http://localhost.evil.example", "http://[::2]"],
)
def test_plain_http_elsewhere_needs_the_flag(url: str) -> None:
    """Plain http to a non-loopback host is refused, naming --insecure-http, unless it is set."""
    with pytest.raises(ConfigError, match="--insecure-http"):
        check_transport(url, insecure_http=False)
    check_transport(url, insecure_http=True)


def test_is_loopback_host() -> None:
    """Only localhost, 127/8 and ::1 count as loopback."""
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("[::1]")
    assert not is_loopback_host("0.0.0.0")
    assert not is_loopback_host("sub.localhost")
