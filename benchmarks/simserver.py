"""`python -m benchmarks.simserver`: the bulkdel simulator in its own process, for benchmarks.

Serves a saved listing (`--state`) as the fleet under `--project-id`, with AK/SK verification on
(so the official SDK is checked like the real API checks it), prints the ready line (endpoint,
project_id, token, ak, sk) as JSON on stdout and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simserver")
    parser.add_argument("--state", required=True, help="ListVirtualInterfaces JSON to serve")
    parser.add_argument("--project-id", required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="added latency in ms")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-uvloop", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Load the fleet, serve until signalled."""
    args = _parse(argv)
    from bulkdel.simulator import Fleet, SimConfig, serve

    with open(args.state, encoding="utf-8") as fh:
        fleet = Fleet.from_listing(json.load(fh), project_id=args.project_id, source=args.state)
    config = SimConfig(fleet=fleet, latency_ms=args.latency).with_signer()

    def ready(info: dict[str, str]) -> None:
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()

    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    runner(serve(config, "127.0.0.1", args.port, on_ready=ready, handle_signals=True))


if __name__ == "__main__":
    main()
