"""Credentials end to end: AK/SK signing and IAM password auth through the CLI."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from .conftest import SAMPLES, cli_env, read_jsonl, run_cli, simulator, write_ipv6_inventory

QUIET = ["--log-format", "json", "--yes"]


def test_ak_sk_run_is_accepted_by_the_signature_checking_server(tmp_path: Path) -> None:
    """With HUAWEICLOUD_SDK_AK/SK set, every request is signed and accepted."""
    with simulator() as sim_plain:
        config = sim_plain.config
    from bulkdel.simulator import run_in_thread

    with run_in_thread(config.with_signer()) as sim:
        env = cli_env(sim)
        del env["BULKDEL_TOKEN"]
        env.update(HUAWEICLOUD_SDK_AK=sim.ak, HUAWEICLOUD_SDK_SK=sim.sk)
        audit = tmp_path / "a.jsonl"
        res = run_cli(["run", str(SAMPLES / "inventory.csv"), "--audit", str(audit), *QUIET], env)
        assert res.code == 0, res.stderr
        assert sim.stats()["deletes_applied"] == 5
        assert sim.sk not in res.stderr
        assert sim.sk not in audit.read_text()


def test_wrong_secret_key_exits_4_without_deleting(tmp_path: Path) -> None:
    """A wrong SK is refused by the server: the listing fails with exit 4, nothing deleted."""
    from bulkdel.simulator import SimConfig, run_in_thread

    with run_in_thread(SimConfig().with_signer()) as sim:
        env = cli_env(sim)
        del env["BULKDEL_TOKEN"]
        env.update(HUAWEICLOUD_SDK_AK=sim.ak, HUAWEICLOUD_SDK_SK="not-the-right-secret-key")
        res = run_cli(
            ["run", str(SAMPLES / "inventory.csv"), "--audit", str(tmp_path / "a.jsonl"), *QUIET],
            env,
        )
        assert res.code == 4, res.stderr
        assert "APIGW.0301" in res.stderr
        assert "not-the-right-secret-key" not in res.stderr
        assert sim.stats()["deletes_received"] == 0


def test_iam_password_auth_refreshes_before_expiry(tmp_path: Path) -> None:
    """IAM tokens that expire mid-run are renewed in time: no request is ever refused."""
    with simulator(
        interfaces=40, seed=31, two_peer_ratio=1.0, token_ttl_s=2.0, latency_ms=20
    ) as sim:
        inv = tmp_path / "v6.txt"
        ids = write_ipv6_inventory(sim, inv)
        env = cli_env(sim)
        del env["BULKDEL_TOKEN"]
        env["BULKDEL_PASSWORD"] = sim.config.password
        audit = tmp_path / "a.jsonl"
        started = time.monotonic()
        res = run_cli(
            [
                "run",
                str(inv),
                "--audit",
                str(audit),
                *QUIET,
                "--rate",
                "10",
                "--username",
                sim.config.username,
                "--domain",
                sim.config.domain,
                "--auth-url",
                sim.endpoint,
            ],
            env,
        )
        assert res.code == 0, res.stderr
        assert time.monotonic() - started > 4  # longer than two token lifetimes
        records = read_jsonl(audit)
        statuses = Counter(r["status"] for r in records if r["event"] == "response")
        assert statuses == {204: len(ids)}
        text = audit.read_text() + res.stderr
        assert sim.config.password not in text
        assert "MIIsimiam" not in text


def test_iam_wrong_password_exits_4(tmp_path: Path) -> None:
    """IAM refusing the password ends with exit 4 and a message naming the user."""
    with simulator() as sim:
        env = cli_env(sim)
        del env["BULKDEL_TOKEN"]
        env["BULKDEL_PASSWORD"] = "wrong-password-value"
        res = run_cli(
            [
                "run",
                str(SAMPLES / "inventory.csv"),
                "--audit",
                str(tmp_path / "a.jsonl"),
                *QUIET,
                "--username",
                sim.config.username,
                "--domain",
                sim.config.domain,
                "--auth-url",
                sim.endpoint,
            ],
            env,
        )
        assert res.code == 4, res.stderr
        assert sim.config.username in res.stderr
        assert "wrong-password-value" not in res.stderr
        assert sim.stats()["deletes_received"] == 0
