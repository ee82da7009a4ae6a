"""Tests of `--config FILE` precedence (command line > environment > config > default)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bulkdel.cli import cli

VIF = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
PEER_V4 = "11111111-1111-4111-8111-111111111111"
PEER_V6 = "22222222-2222-4222-8222-222222222222"
#: Plain http is allowed to loopback, and `plan --state` never connects: port 9 is discard.
CONFIG_URL, ENV_URL, CLI_URL = "http://127.0.0.1:9", "http://127.0.0.2:9", "http://127.0.0.3:9"
CONFIG_PROJECT, ENV_PROJECT, CLI_PROJECT = "c" * 32, "e" * 32, "d" * 32


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """An inventory naming both peers of one interface, and that interface's saved listing."""
    inventory = tmp_path / "inv.csv"
    inventory.write_text(f"vif_peer_id,vif_id\n{PEER_V4},{VIF}\n{PEER_V6},{VIF}\n")
    state = tmp_path / "state.json"
    peers = [{"id": PEER_V4, "address_family": "ipv4"}, {"id": PEER_V6, "address_family": "ipv6"}]
    state.write_text(json.dumps({"virtual_interfaces": [{"id": VIF, "vif_peers": peers}]}))
    return {"inventory": inventory, "state": state, "plan": tmp_path / "plan.json"}


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bulkdel.toml"
    path.write_text(text)
    return str(path)


def _plan(
    files: dict[str, Path], *extra: str, env: dict[str, str] | None = None
) -> tuple[Result, dict[str, Any]]:
    """Run `bulkdel plan --state ... --out ...` in-process; return the result and plan file."""
    # No ambient BULKDEL_*/OS_*/HUAWEICLOUD_* variable may take part.
    clean: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("BULKDEL_", "OS_", "HUAWEICLOUD_"))
    }
    clean.update(env or {})
    args = ["plan", str(files["inventory"]), "--state", str(files["state"]), "--format", "json"]
    args += ["--out", str(files["plan"]), "--log-format", "json", *extra]
    result = CliRunner().invoke(cli, args, env=clean)
    doc = json.loads(files["plan"].read_text()) if result.exit_code == 0 else {}
    return result, doc


def test_config_file_supplies_defaults(files: dict[str, Path], tmp_path: Path) -> None:
    """With only the config file, its endpoint, project-id and keep are used."""
    cfg = _config(
        tmp_path, f'endpoint = "{CONFIG_URL}"\nproject-id = "{CONFIG_PROJECT}"\nkeep = "ipv6"\n'
    )
    result, doc = _plan(files, "--config", cfg)
    assert result.exit_code == 0, result.output
    assert (doc["endpoint"], doc["project_id"], doc["keep"]) == (CONFIG_URL, CONFIG_PROJECT, "ipv6")
    # keep = ipv6 really changed the plan: the IPv6 peer is the one kept.
    planned = {d["peer_id"]: d["planned"] for d in doc["decisions"]}
    assert planned == {PEER_V4: "delete", PEER_V6: "protected"}


def test_without_config_the_defaults_apply(files: dict[str, Path]) -> None:
    """No config file: keep falls back to its default, ipv4."""
    result, doc = _plan(files, "--endpoint", CLI_URL, "--project-id", CLI_PROJECT)
    assert result.exit_code == 0, result.output
    assert doc["keep"] == "ipv4"


def test_command_line_beats_config(files: dict[str, Path], tmp_path: Path) -> None:
    """`--keep ipv4` on the command line wins over `keep = "ipv6"` in the config file."""
    cfg = _config(
        tmp_path, f'endpoint = "{CONFIG_URL}"\nproject-id = "{CONFIG_PROJECT}"\nkeep = "ipv6"\n'
    )
    result, doc = _plan(files, "--config", cfg, "--keep", "ipv4")
    assert result.exit_code == 0, result.output
    assert doc["keep"] == "ipv4"
    assert {d["peer_id"]: d["planned"] for d in doc["decisions"]}[PEER_V4] == "protected"


@pytest.mark.parametrize(
    ("use_env", "use_cli", "winner"),
    [
        (False, False, (CONFIG_URL, CONFIG_PROJECT)),
        (True, False, (ENV_URL, ENV_PROJECT)),
        (True, True, (CLI_URL, CLI_PROJECT)),
        (False, True, (CLI_URL, CLI_PROJECT)),
    ],
)
def test_endpoint_and_project_precedence(
    files: dict[str, Path],
    tmp_path: Path,
    use_env: bool,
    use_cli: bool,
    winner: tuple[str, str],
) -> None:
    """Endpoint and project ID: command line > BULKDEL_* environment > config file."""
    cfg = _config(tmp_path, f'endpoint = "{CONFIG_URL}"\nproject-id = "{CONFIG_PROJECT}"\n')
    env = {"BULKDEL_ENDPOINT": ENV_URL, "BULKDEL_PROJECT_ID": ENV_PROJECT} if use_env else {}
    extra = ["--endpoint", CLI_URL, "--project-id", CLI_PROJECT] if use_cli else []
    result, doc = _plan(files, "--config", cfg, *extra, env=env)
    assert result.exit_code == 0, result.output
    assert (doc["endpoint"], doc["project_id"]) == winner


def test_os_project_id_is_the_fallback_variable(files: dict[str, Path], tmp_path: Path) -> None:
    """OS_PROJECT_ID beats the config file but loses to BULKDEL_PROJECT_ID."""
    cfg = _config(tmp_path, f'endpoint = "{CONFIG_URL}"\nproject-id = "{CONFIG_PROJECT}"\n')
    _, doc = _plan(files, "--config", cfg, env={"OS_PROJECT_ID": ENV_PROJECT})
    assert doc["project_id"] == ENV_PROJECT
    both = {"OS_PROJECT_ID": ENV_PROJECT, "BULKDEL_PROJECT_ID": CLI_PROJECT}
    _, doc = _plan(files, "--config", cfg, env=both)
    assert doc["project_id"] == CLI_PROJECT


@pytest.mark.parametrize("key", ["token", "password", "sk", "security-token", "security_token"])
def test_secret_in_config_file_is_refused(files: dict[str, Path], tmp_path: Path, key: str) -> None:
    """A secret key in the config file is refused with exit 2, naming the env variable to use."""
    secret = "cfg-secret-value-31337"
    cfg = _config(tmp_path, f'endpoint = "{CONFIG_URL}"\n{key} = "{secret}"\n')
    result, _ = _plan(files, "--config", cfg, "--project-id", CLI_PROJECT)
    assert result.exit_code == 2
    assert "secret" in result.output
    assert "BULKDEL_TOKEN" in result.output
    assert secret not in result.output
    assert not files["plan"].exists()  # refused before anything was done
