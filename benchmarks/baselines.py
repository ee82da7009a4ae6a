"""What a user would write instead of bulkdel, each run in its own process.

`python -m benchmarks.baselines KIND --endpoint URL --project-id P --ids FILE [--concurrency C]
[--loop asyncio|uvloop]` deletes every ID in FILE and prints one JSON line: requests, ok (2xx),
statuses, seconds (the loop only, not imports or set-up). Credentials come from the environment
(BENCH_TOKEN, BENCH_AK, BENCH_SK), never the command line.

Kinds:
- `requests`: a sequential loop over one `requests.Session` (the hand-written script);
- `sdk`: the official `huaweicloudsdkdc` DcClient, sequential (AK/SK signed);
- `sdk-threads`: the same client shared by a ThreadPoolExecutor of `--concurrency` threads;
- `aiohttp`: `--concurrency` worker coroutines over one ClientSession (the limit of one Python
  process: no audit, no rate limit, no retries).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

KINDS = ("requests", "sdk", "sdk-threads", "aiohttp")


def _path(project_id: str, peer_id: str) -> str:
    return f"/v3/{project_id}/dcaas/vif-peers/{peer_id}"


def run_requests(endpoint: str, project_id: str, ids: list[str], token: str) -> Counter[str]:
    """A plain sequential loop: one Session, one DELETE after another."""
    import requests

    statuses: Counter[str] = Counter()
    with requests.Session() as session:
        session.headers["X-Auth-Token"] = token
        for peer_id in ids:
            resp = session.delete(endpoint + _path(project_id, peer_id), timeout=30)
            statuses[str(resp.status_code)] += 1
    return statuses


def _sdk_client(endpoint: str, project_id: str, ak: str, sk: str, pool: int) -> Any:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkdc.v3 import DcClient

    config = HttpConfig.get_default_config()
    config.timeout = (30, 30)
    config.pool_connections = pool
    config.pool_maxsize = pool
    return (
        DcClient.new_builder()
        .with_credentials(BasicCredentials(ak, sk, project_id))
        .with_endpoints([endpoint])
        .with_http_config(config)
        .build()
    )


def _sdk_delete(client: Any) -> Callable[[str], str]:
    from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
    from huaweicloudsdkdc.v3 import DeleteVifPeerRequest

    def delete(peer_id: str) -> str:
        try:
            resp = client.delete_vif_peer(DeleteVifPeerRequest(vif_peer_id=peer_id))
        except ClientRequestException as exc:
            return str(exc.status_code)
        return str(resp.status_code)

    return delete


def run_sdk(
    endpoint: str, project_id: str, ids: list[str], ak: str, sk: str, concurrency: int
) -> tuple[Counter[str], float]:
    """The official SDK, sequential (`concurrency` 1) or in a thread pool; returns loop time."""
    from concurrent.futures import ThreadPoolExecutor

    client = _sdk_client(endpoint, project_id, ak, sk, max(concurrency, 1))
    delete = _sdk_delete(client)
    started = time.perf_counter()
    if concurrency <= 1:
        statuses = Counter(delete(i) for i in ids)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            statuses = Counter(pool.map(delete, ids))
    return statuses, time.perf_counter() - started


async def run_aiohttp(
    endpoint: str, project_id: str, ids: list[str], token: str, concurrency: int
) -> tuple[Counter[str], float]:
    """N workers pulling IDs from a shared iterator over one ClientSession."""
    import aiohttp

    statuses: Counter[str] = Counter()
    todo = iter(ids)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"X-Auth-Token": token}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:

        async def worker() -> None:
            for peer_id in todo:
                try:
                    async with session.delete(endpoint + _path(project_id, peer_id)) as resp:
                        await resp.read()
                        statuses[str(resp.status)] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    statuses[type(exc).__name__] += 1

        import asyncio

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return statuses, time.perf_counter() - started


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baselines")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--project-id", required=True)
    parser.add_argument("--ids", required=True, help="file with one peer ID a line")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run one baseline; the result document printed by `main`."""
    with open(args.ids, encoding="utf-8") as fh:
        ids = [line.strip() for line in fh if line.strip()]
    token = os.environ.get("BENCH_TOKEN", "")
    ak, sk = os.environ.get("BENCH_AK", ""), os.environ.get("BENCH_SK", "")
    if args.kind == "requests":
        started = time.perf_counter()
        statuses = run_requests(args.endpoint, args.project_id, ids, token)
        seconds = time.perf_counter() - started
    elif args.kind in ("sdk", "sdk-threads"):
        workers = 1 if args.kind == "sdk" else args.concurrency
        statuses, seconds = run_sdk(args.endpoint, args.project_id, ids, ak, sk, workers)
    else:
        coro = run_aiohttp(args.endpoint, args.project_id, ids, token, args.concurrency)
        if args.loop == "uvloop":
            import uvloop

            statuses, seconds = uvloop.run(coro)
        else:
            import asyncio

            statuses, seconds = asyncio.run(coro)
    ok = sum(n for s, n in statuses.items() if s.isdigit() and 200 <= int(s) < 300)
    return {
        "kind": args.kind,
        "requests": len(ids),
        "ok": ok,
        "statuses": dict(statuses),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the result of one baseline as a JSON line."""
    result = measure(_parse(argv))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
