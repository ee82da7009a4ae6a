"""Regenerate the sample inventories from the simulator's default fleet (20 interfaces, seed 1).

Run from the repository root: `.venv/bin/python samples/make_samples.py`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from bulkdel.simulator import generate_fleet

HERE = Path(__file__).parent


def main() -> None:
    """Write every sample format; the same peers in each."""
    fleet = generate_fleet(20, seed=1)
    listing = fleet.to_listing()
    vifs = listing["virtual_interfaces"]
    chosen: list[tuple[str, str]] = []
    for n, vif in enumerate(vifs):
        peers = vif["vif_peers"]
        if n % 4 == 3:
            continue  # some interfaces are left alone entirely
        if len(peers) == 2 and n % 2 == 0:
            chosen.append((peers[1]["id"], vif["id"]))  # only the IPv6 peer: deleted
        else:
            chosen.extend((p["id"], vif["id"]) for p in peers)  # all: one is protected
    chosen.append(("00000000-0000-4000-8000-000000000000", ""))  # not in the fleet: gone
    ids = [p for p, _ in chosen]

    (HERE / "state.json").write_text(json.dumps(listing, indent=1) + "\n")
    csv = "vif_peer_id,vif_id\n" + "".join(f"{p},{v}\n" for p, v in chosen)
    (HERE / "inventory.csv").write_text(csv)
    (HERE / "inventory.csv.gz").write_bytes(gzip.compress(csv.encode(), mtime=0))
    (HERE / "inventory.txt").write_text("".join(f"{p}\n" for p in ids))
    (HERE / "inventory.json").write_text(json.dumps(ids, indent=1) + "\n")
    objects = [{"id": p, "vif_id": v} if v else {"id": p} for p, v in chosen]
    (HERE / "inventory-objects.json").write_text(json.dumps({"vif_peers": objects}, indent=1))
    (HERE / "inventory.jsonl").write_text("".join(json.dumps(o) + "\n" for o in objects))
    subset = {"virtual_interfaces": [v for n, v in enumerate(vifs) if n % 4 == 1]}
    (HERE / "listing-inventory.json").write_text(json.dumps(subset, indent=1) + "\n")


if __name__ == "__main__":
    main()
