"""Tests for bulkdel.simulator.config: validation, derived credentials and fault drawing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkdel.errors import ConfigError
from bulkdel.simulator.config import (
    FaultKind,
    SimConfig,
    derive_credentials,
    draw_delay_s,
    draw_fault,
)


def test_credentials_are_derived_from_the_seed() -> None:
    """Empty credentials are filled in, stable for a seed and different across seeds."""
    a, b, c = SimConfig(seed=1), SimConfig(seed=1), SimConfig(seed=2)
    assert (a.token, a.ak, a.sk, a.password) == (b.token, b.ak, b.sk, b.password)
    assert a.token != c.token
    assert a.ak != c.ak
    assert len(a.token) > 200
    assert len(a.sk) == 40
    assert derive_credentials(1).ak == a.ak


def test_explicit_credentials_win() -> None:
    """A credential given explicitly is kept."""
    assert SimConfig(token="t0k3n").token == "t0k3n"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fault_rate": 1.5},
        {"rate_limit": 0},
        {"fault_mix": {"explode": 1.0}},
        {"fault_rate": 0.5, "fault_mix": {"5xx": 0.0}},
        {"latency_ms": -1},
        {"token_ttl_s": 0},
        {"two_peer_ratio": 2.0},
    ],
)
def test_unusable_settings_are_config_errors(kwargs: dict[str, object]) -> None:
    """Bad settings raise ConfigError (exit 2) naming the problem."""
    with pytest.raises(ConfigError, match="simulator settings not usable"):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_no_fault_without_a_rate() -> None:
    """fault_rate 0 never faults."""
    rng = random.Random(1)
    weights = SimConfig().fault_weights()
    assert all(draw_fault(rng, 0.0, weights) is None for _ in range(100))


@given(seed=st.integers(0, 10_000), kind=st.sampled_from(list(FaultKind)))
def test_a_single_weighted_kind_is_always_drawn(seed: int, kind: FaultKind) -> None:
    """With rate 1 and one positive weight, that kind is drawn."""
    weights = SimConfig(fault_rate=1.0, fault_mix={kind.value: 2.0}).fault_weights()
    assert draw_fault(random.Random(seed), 1.0, weights) is kind


def test_fault_mix_is_respected_roughly() -> None:
    """Over many draws each kind appears in proportion to its weight."""
    rng = random.Random(7)
    weights = SimConfig(fault_mix={"5xx": 3.0, "reset": 1.0}).fault_weights()
    draws = [draw_fault(rng, 0.5, weights) for _ in range(4000)]
    n_5xx, n_reset = draws.count(FaultKind.SERVER_ERROR), draws.count(FaultKind.RESET)
    assert 1900 < n_5xx + n_reset < 2100
    assert 2.5 < n_5xx / n_reset < 3.6


@given(seed=st.integers(0, 10_000))
def test_delay_is_latency_plus_bounded_jitter(seed: int) -> None:
    """The delay is latency plus a jitter in [0, jitter_ms]."""
    delay = draw_delay_s(random.Random(seed), 100.0, 20.0)
    assert 0.1 <= delay <= 0.12
