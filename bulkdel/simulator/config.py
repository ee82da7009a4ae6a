"""Simulator settings, its seed-derived credentials and fault drawing (pure)."""

from __future__ import annotations

import dataclasses
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bulkdel.errors import ConfigError
from bulkdel.simulator.documents import project_id_for_seed
from bulkdel.simulator.fleet import Fleet

#: Checks an `SDK-HMAC-SHA256` request: (method, path, raw query string, headers, body) → ok.
SignatureVerifier = Callable[[str, str, str, Mapping[str, str], bytes], bool]


class FaultKind(StrEnum):
    """Faults injected into DELETE requests."""

    SERVER_ERROR = "5xx"  # 503, not applied
    RESET = "reset"  # connection dropped without a response, not applied
    STALL = "stall"  # answered normally after `stall_s`
    APPLIED_500 = "applied_500"  # applied, then answered 500


DEFAULT_FAULT_MIX: Mapping[str, float] = {
    FaultKind.SERVER_ERROR.value: 0.4,
    FaultKind.RESET.value: 0.2,
    FaultKind.STALL.value: 0.1,
    FaultKind.APPLIED_500.value: 0.3,
}

_TOKEN_CHARS = string.ascii_letters + string.digits + "-_"
_AK_CHARS = string.ascii_uppercase + string.digits
_SK_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Credentials:
    """The simulator's own credentials for one seed."""

    token: str = field(repr=False)
    ak: str
    sk: str = field(repr=False)
    password: str = field(repr=False)


def derive_credentials(seed: int) -> Credentials:
    """Stable, random-looking credentials for `seed` (independent of the fleet's draws)."""
    rng = random.Random(f"bulkdel-sim-credentials:{seed}")
    token = "MIIsim" + "".join(rng.choice(_TOKEN_CHARS) for _ in range(250))
    ak = "SIM" + "".join(rng.choice(_AK_CHARS) for _ in range(17))
    sk = "".join(rng.choice(_SK_CHARS) for _ in range(40))
    password = "Sim-" + "".join(rng.choice(_SK_CHARS) for _ in range(16))
    return Credentials(token=token, ak=ak, sk=sk, password=password)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the simulator can be told. Empty credentials are derived from `seed`."""

    interfaces: int = 20
    seed: int = 1
    two_peer_ratio: float = 0.5
    #: DELETE requests admitted per sliding second; None = no throttling.
    rate_limit: int | None = None
    #: `Retry-After` header on 429 (seconds); None = no header.
    retry_after: float | None = 1
    #: Intervals `(start_s, end_s)`, counted from the first DELETE received, during which every
    #: DELETE is answered 429 whatever `rate_limit` says (intermittent throttling).
    throttle_windows: Sequence[tuple[float, float]] = ()
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    #: Probability that a DELETE gets a fault, split by `fault_mix` weights.
    fault_rate: float = 0.0
    fault_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FAULT_MIX))
    stall_s: float = 30.0
    token: str = field(default="", repr=False)
    ak: str = ""
    sk: str = field(default="", repr=False)
    username: str = "bulkdel-sim"
    password: str = field(default="", repr=False)
    domain: str = "bulkdel-sim-domain"
    #: IAM project name accepted in `scope.project.name` (OTC names projects after regions).
    project_name: str = "eu-de"
    token_ttl_s: float = 86400.0
    #: Use this fleet (copied at start) instead of generating one.
    fleet: Fleet | None = field(default=None, repr=False, compare=False)
    verify_signature: SignatureVerifier | None = field(default=None, repr=False, compare=False)
    #: Tokens that authenticate but lack permission (403 APIGW.0302).
    forbidden_tokens: frozenset[str] = field(default_factory=frozenset, repr=False)

    def __post_init__(self) -> None:
        derived = derive_credentials(self.seed)
        for name in ("token", "ak", "sk", "password"):
            if not getattr(self, name):
                object.__setattr__(self, name, getattr(derived, name))
        object.__setattr__(self, "forbidden_tokens", frozenset(self.forbidden_tokens))
        windows = tuple((float(a), float(b)) for a, b in self.throttle_windows)
        object.__setattr__(self, "throttle_windows", windows)
        problems = _problems(self)
        if problems:
            raise ConfigError(
                "simulator settings not usable: " + "; ".join(problems) + ". Fix the option(s)"
            )

    @property
    def project_id(self) -> str:
        """The project the simulator serves."""
        return self.fleet.project_id if self.fleet is not None else project_id_for_seed(self.seed)

    def fault_weights(self) -> tuple[tuple[FaultKind, float], ...]:
        """`fault_mix` as validated (kind, weight) pairs, in FaultKind order."""
        return tuple((k, float(self.fault_mix.get(k.value, 0.0))) for k in FaultKind)

    def with_signer(self) -> SimConfig:
        """This config with AK/SK verification of the simulator's own ak/sk (bulkdel.signer)."""
        from bulkdel.simulator.signing import signer_verifier

        return dataclasses.replace(self, verify_signature=signer_verifier(self.ak, self.sk))


def _problems(cfg: SimConfig) -> list[str]:
    out: list[str] = []
    if cfg.interfaces < 0:
        out.append("interfaces must be >= 0")
    if not 0.0 <= cfg.two_peer_ratio <= 1.0:
        out.append("two_peer_ratio must be within 0..1")
    if cfg.rate_limit is not None and cfg.rate_limit < 1:
        out.append("rate_limit must be >= 1 (or None for no limit)")
    if any(not 0.0 <= a < b for a, b in cfg.throttle_windows):
        out.append("throttle_windows must be (start_s, end_s) pairs with 0 <= start_s < end_s")
    if cfg.retry_after is not None and cfg.retry_after < 0:
        out.append("retry_after must be >= 0 (or None for no header)")
    if cfg.latency_ms < 0 or cfg.jitter_ms < 0:
        out.append("latency and jitter must be >= 0 ms")
    if not 0.0 <= cfg.fault_rate <= 1.0:
        out.append("fault_rate must be within 0..1")
    unknown = sorted(set(cfg.fault_mix) - {k.value for k in FaultKind})
    if unknown:
        out.append(f"unknown fault kind(s) {unknown}; use {[k.value for k in FaultKind]}")
    if any(w < 0 for w in cfg.fault_mix.values()):
        out.append("fault weights must be >= 0")
    elif cfg.fault_rate > 0 and sum(cfg.fault_mix.values()) <= 0:
        out.append("fault_mix needs a positive weight when fault_rate > 0")
    if cfg.stall_s < 0:
        out.append("stall_s must be >= 0")
    if cfg.token_ttl_s <= 0:
        out.append("token_ttl_s must be > 0")
    return out


def in_throttle_window(windows: Sequence[tuple[float, float]], elapsed_s: float) -> bool:
    """Whether `elapsed_s` (since the first DELETE) falls in a half-open `[start, end)` window."""
    return any(start <= elapsed_s < end for start, end in windows)


def draw_fault(
    rng: random.Random, rate: float, weights: tuple[tuple[FaultKind, float], ...]
) -> FaultKind | None:
    """Pick the fault for one DELETE: None with probability 1 - rate, else by weight."""
    if rate <= 0.0 or rng.random() >= rate:
        return None
    total = sum(w for _, w in weights)
    x = rng.random() * total
    for kind, weight in weights:
        if x < weight:
            return kind
        x -= weight
    # Float rounding can leave x a hair above the last weight: take the last positive one.
    return next(k for k, w in reversed(weights) if w > 0)


def draw_delay_s(rng: random.Random, latency_ms: float, jitter_ms: float) -> float:
    """Seconds to wait before handling a DELETE: latency plus uniform [0, jitter]."""
    if jitter_ms <= 0.0:
        return latency_ms / 1000.0
    return (latency_ms + rng.uniform(0.0, jitter_ms)) / 1000.0
