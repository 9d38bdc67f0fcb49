"""``peermind bench scale --simulate N``: the ads gossip and the DHT of N peers, without N processes.

What can run as the node's own code does: N real signed ads (``CapabilityAd`` sealed by
N Ed25519 identities, as ``make_ad`` builds them: light nodes and model nodes), opened by
the real ``Verifier`` (its CPU cost per ad is measured), held in the real ``AdBoard``
(its memory measured with tracemalloc) and written to the real SQLite ``Store`` (its
file size measured). Kademlia distances use py-libp2p's own ``peer_id_to_key``.

What is simulated, with the parameters the node runs with:

- the gossipsub mesh (``AdGossip``: degree 6, between 4 and 12, heartbeat 1 s, IHAVE to
  6 non-mesh peers over a 3-heartbeat window): one ad flooded from random origins over a
  random mesh, with a per-hop delay drawn from ``HOP_MS`` plus the measured verify time;
  hops and time until every peer holds it, and copies received per peer;
- steady state: every peer republishes every ``ads.republish_s`` (node default), so each
  peer ingests N / republish_s ads per second, each received about as many times as the
  simulated flood delivered it; traffic per peer follows from the measured ad size;
- the DHT: iterative lookups (alpha, k as py-libp2p's ``common.py``) over N random peer
  IDs, with each peer's k-buckets filled from the whole population: hops and messages.

Nothing here is a measurement of a 10,000-node deployment: it is what the node's own data
structures cost at that size and what the mesh parameters imply, stated with their inputs.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from libp2p.kad_dht.common import ALPHA, BUCKET_SIZE
from libp2p.kad_dht.routing_table import key_to_int, peer_id_to_key
from libp2p.peer.id import ID
from peermind.node.extension import AdBoard, Store
from peermind.protocol import CapabilityAd, ModelInfo, Signer, Verifier, seal

from ._bench_results import write_bench_results

MESH_D, MESH_LOW, MESH_HIGH = 6, 4, 12  # node/p2p/ads.py AdGossip.run
GOSSIP_LAZY, GOSSIP_WINDOW = 6, 3  # py-libp2p gossipsub defaults: IHAVE fan-out and heartbeats remembered
MSG_ID_BYTES = 50  # gossipsub message id: origin peer ID bytes + 8-byte seqno, with framing
REPUBLISH_S = 20.0  # config ads.republish_s default
TTL_S = 60  # config ads.ttl_s default
HOP_MS = (5.0, 80.0)  # one-way delay per gossip hop, uniform: loopback neighbour to device-to-cloud
MODEL_SHARE = 0.1  # one peer in ten serves a model, the rest are light nodes
FLOODS = 20
LOOKUPS = 200


@dataclass(frozen=True)
class SimSettings:
    peers: int = 10_000
    seed: int = 0
    out: Path | None = None


def _ad(peer: Signer, i: int, model: bool, network: str) -> CapabilityAd:
    addr = f"/ip4/10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/tcp/4001/p2p/{peer.peer_id_b58}"
    models = [ModelInfo(name="smollm2", family="llama", params_m=135.0, quant="Q8_0", n_ctx=2048, size_mb=138.0,
                        prompt_tps=812.5, gen_tps=61.3, chat=True)] if model else []
    return CapabilityAd(network=network, addrs=[addr], models=models, queue_depth=0, max_queue=8,
                        max_concurrency=1, load=0.0, cost_per_1k=0.1 if model else 0.0,
                        tags=["tier:device" if model else "tier:light"], skills=[], ttl_s=TTL_S,
                        seq=int(time.time() * 1000), training=model, ram_mb=4096, pow_nonce=0)


def build_ads(n: int, rng: random.Random, network: str = "sim") -> tuple[list[Signer], list[bytes]]:
    """N identities and their sealed ads, as the nodes would publish them."""
    signers = [Signer(Ed25519PrivateKey.generate()) for _ in range(n)]
    topic = f"peermind/{network}/ads/1"
    sealed = [seal(s, _ad(s, i, rng.random() < MODEL_SHARE, network), topic) for i, s in enumerate(signers)]
    return signers, sealed


def measure_table(signers: list[Signer], sealed: list[bytes]) -> dict[str, Any]:
    """Open every ad with the real Verifier and hold it in the real AdBoard and Store."""
    timing = Verifier(max_skew_s=300.0, max_frame_bytes=1 << 20)
    started = time.process_time()  # CPU time: a loaded machine must not inflate the cost
    for signer, raw in zip(signers, sealed, strict=True):
        timing.open(raw, expected_sender=signer.peer_id)
    verify_s = time.process_time() - started
    verifier = Verifier(max_skew_s=300.0, max_frame_bytes=1 << 20)
    tracemalloc.start()
    board = AdBoard()
    start_mem, _ = tracemalloc.get_traced_memory()
    for signer, raw in zip(signers, sealed, strict=True):
        ad = verifier.open(raw, expected_sender=signer.peer_id).body
        assert isinstance(ad, CapabilityAd)
        board.offer(signer.peer_id_b58, ad)
    board_mem, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "node.db")
        try:
            started = time.process_time()
            for signer, raw, entry in zip(signers, sealed, board.fresh(), strict=False):
                store.upsert_peer(signer.peer_id_b58, ad=raw, addrs=list(entry.ad.addrs))
            store_s = time.process_time() - started
        finally:
            store.close()
        db_bytes = sum(p.stat().st_size for p in Path(tmp).glob("node.db*"))
    n = len(sealed)
    return {
        "ads": n,
        "ad_bytes_median": statistics.median(len(s) for s in sealed),
        "ad_bytes_max": max(len(s) for s in sealed),
        "verify_cpu_us_per_ad": round(verify_s / n * 1e6, 1),
        "board_mb": round((board_mem - start_mem) / 2**20, 2),
        "board_bytes_per_ad": round((board_mem - start_mem) / n),
        "store_mb": round(db_bytes / 2**20, 2),
        "store_cpu_ms_per_ad": round(store_s / n * 1000, 3),
    }


def build_mesh(n: int, rng: random.Random) -> list[list[int]]:
    """A gossipsub-like mesh: every peer grafts random peers up to D, none beyond D_high."""
    mesh: list[set[int]] = [set() for _ in range(n)]
    for a in rng.sample(range(n), n):
        tries = 0
        while len(mesh[a]) < MESH_D and tries < 50:
            tries += 1
            b = rng.randrange(n)
            if b != a and b not in mesh[a] and len(mesh[b]) < MESH_HIGH:
                mesh[a].add(b)
                mesh[b].add(a)
    return [sorted(m) for m in mesh]


def flood(mesh: list[list[int]], origin: int, rng: random.Random, verify_ms: float) -> tuple[int, float, list[int]]:
    """Hops and ms until every peer holds the message; copies received per peer (duplicates too)."""
    import heapq

    n = len(mesh)
    arrival = [float("inf")] * n
    hops = [0] * n
    copies = [0] * n
    arrival[origin] = 0.0
    queue: list[tuple[float, int, int, int]] = [(0.0, origin, -1, 0)]
    done = [False] * n
    while queue:
        t, peer, sender, hop = heapq.heappop(queue)
        if done[peer]:
            continue
        done[peer] = True
        hops[peer] = hop
        for nxt in mesh[peer]:
            if nxt == sender:
                continue
            copies[nxt] += 1
            at = t + rng.uniform(*HOP_MS) + verify_ms
            if not done[nxt] and at < arrival[nxt]:
                arrival[nxt] = at
                heapq.heappush(queue, (at, nxt, peer, hop + 1))
    reached = [i for i in range(n) if done[i]]
    return max(hops[i] for i in reached), max(arrival[i] for i in reached), copies


def dht_lookups(n: int, rng: random.Random, signers: list[Signer]) -> dict[str, Any]:
    """Iterative Kademlia lookups over the real key space (py-libp2p's peer_id_to_key).

    Each peer's bucket i holds up to k random peers whose key shares exactly i leading bits
    with its own (a full, well-maintained table): in key order those form one contiguous run.
    """
    import bisect

    bits = 256
    keys = [key_to_int(peer_id_to_key(ID(s.peer_id))) for s in signers[:n]]
    order = sorted(range(n), key=lambda p: keys[p])
    sorted_keys = [keys[p] for p in order]
    buckets: list[dict[int, list[int]]] = []
    for me in range(n):
        table: dict[int, list[int]] = {}
        for shared in range(bits):
            prefix = keys[me] >> (bits - shared)
            lo = bisect.bisect_left(sorted_keys, prefix << (bits - shared))
            hi = bisect.bisect_left(sorted_keys, (prefix + 1) << (bits - shared))
            if hi - lo <= 1:
                break
            flipped = (keys[me] >> (bits - shared - 1)) ^ 1  # the other half of this subtree
            sub_lo = bisect.bisect_left(sorted_keys, flipped << (bits - shared - 1))
            sub_hi = bisect.bisect_left(sorted_keys, (flipped + 1) << (bits - shared - 1))
            run = order[sub_lo:sub_hi]
            if run:
                table[shared] = rng.sample(run, min(BUCKET_SIZE, len(run)))
        buckets.append(table)
    alpha = min(ALPHA, 3)  # libp2p's spec value is 10; go-libp2p queries 3 at once: fewer messages
    hops_all, msgs_all = [], []
    for _ in range(LOOKUPS):
        start, target = rng.randrange(n), rng.randrange(n)
        tkey = keys[target]
        known = {p for ps in buckets[start].values() for p in ps}
        asked: set[int] = set()
        hops = msgs = 0
        while target not in known:
            todo = sorted(known - asked, key=lambda p: keys[p] ^ tkey)[:alpha]
            if not todo:
                break
            hops += 1
            for p in todo:
                asked.add(p)
                msgs += 1
                closest = sorted((q for qs in buckets[p].values() for q in qs), key=lambda q: keys[q] ^ tkey)
                known.update(closest[:BUCKET_SIZE])
        hops_all.append(hops)
        msgs_all.append(msgs)
    table_sizes = [sum(len(v) for v in t.values()) for t in buckets]
    return {
        "k": BUCKET_SIZE, "alpha": alpha, "lookups": LOOKUPS,
        "routing_table_peers_median": statistics.median(table_sizes),
        "lookup_hops_median": statistics.median(hops_all), "lookup_hops_max": max(hops_all),
        "lookup_messages_median": statistics.median(msgs_all),
    }


def simulate(settings: SimSettings) -> dict[str, Any]:
    rng = random.Random(settings.seed)
    n = settings.peers
    signers, sealed = build_ads(n, rng)
    table = measure_table(signers, sealed)
    mesh = build_mesh(n, rng)
    verify_ms = table["verify_cpu_us_per_ad"] / 1000
    floods = [flood(mesh, rng.randrange(n), rng, verify_ms) for _ in range(FLOODS)]
    copies = [statistics.mean(c) for _h, _t, c in floods]
    copies_per_ad = statistics.mean(copies)
    ads_per_s = n / REPUBLISH_S
    ad_bytes = table["ad_bytes_median"]
    full_in = ads_per_s * copies_per_ad * ad_bytes  # every copy crosses a link once: in ~= out per peer
    ihave_out = GOSSIP_LAZY * ads_per_s * GOSSIP_WINDOW * MSG_ID_BYTES
    report: dict[str, Any] = {
        "command": f"peermind bench scale --simulate {n} --seed {settings.seed}"
                   + (f" --out {settings.out}" if settings.out else ""),
        "peers": n,
        "inputs": {"mesh_degree": [MESH_LOW, MESH_D, MESH_HIGH], "gossip_lazy": GOSSIP_LAZY,
                   "gossip_window_heartbeats": GOSSIP_WINDOW, "republish_s": REPUBLISH_S, "ttl_s": TTL_S,
                   "hop_ms_uniform": list(HOP_MS), "model_share": MODEL_SHARE, "floods": FLOODS},
        "ad_table": table,
        "gossip": {
            "mesh_degree_median": statistics.median(len(m) for m in mesh),
            "flood_hops_max": max(h for h, _t, _c in floods),
            "flood_hops_median": statistics.median(h for h, _t, _c in floods),
            "flood_ms_median": round(statistics.median(t for _h, t, _c in floods), 1),
            "flood_ms_max": round(max(t for _h, t, _c in floods), 1),
            "copies_received_per_ad": round(copies_per_ad, 2),
            "ads_per_s_network": ads_per_s,
            "traffic_kb_per_s_per_peer_in": round(full_in / 1000, 1),
            "traffic_kb_per_s_per_peer_out": round((full_in + ihave_out) / 1000, 1),
            "ihave_kb_per_s_per_peer": round(ihave_out / 1000, 1),
            # duplicates are dropped by message id before validation: one open per ad
            "verify_cpu_pct_per_peer": round(ads_per_s * table["verify_cpu_us_per_ad"] / 1e4, 1),
            "newcomer_full_table_s": REPUBLISH_S,
            # If only model-serving peers gossiped ads (light peers found through the DHT and
            # connections instead: routers never pick them), the same formula gives:
            "model_ads_only_traffic_kb_per_s_per_peer_in": round(full_in * MODEL_SHARE / 1000, 1),
            "model_ads_only_board_mb": round(table["board_mb"] * MODEL_SHARE, 2),
        },
        "dht": dht_lookups(n, rng, signers),
    }
    if settings.out:
        write_bench_results(settings.out, report, markdown(report))
    return report


def markdown(report: dict[str, Any]) -> str:
    t, g, d = report["ad_table"], report["gossip"], report["dht"]
    return "\n".join([
        f"# {report['peers']} peers, simulated (`{report['command']}`)", "",
        f"- Ad table (real CapabilityAd, Verifier, AdBoard, Store): {t['ads']} ads of {t['ad_bytes_median']} B "
        f"(max {t['ad_bytes_max']}); AdBoard {t['board_mb']} MiB ({t['board_bytes_per_ad']} B/ad), SQLite peers table "
        f"{t['store_mb']} MiB; opening an ad {t['verify_cpu_us_per_ad']} us of CPU.",
        f"- Gossip mesh (degree median {g['mesh_degree_median']}): one ad reaches every peer in {g['flood_hops_median']} hops "
        f"(max {g['flood_hops_max']}), {g['flood_ms_median']} ms median / {g['flood_ms_max']} ms max over "
        f"{report['inputs']['floods']} floods at {report['inputs']['hop_ms_uniform']} ms per hop; each peer receives "
        f"{g['copies_received_per_ad']} copies of each ad.",
        f"- Steady state (republish every {report['inputs']['republish_s']:g} s): {g['ads_per_s_network']:g} ads/s "
        f"network-wide; per peer {g['traffic_kb_per_s_per_peer_in']} kB/s in, {g['traffic_kb_per_s_per_peer_out']} kB/s out "
        f"(IHAVE {g['ihave_kb_per_s_per_peer']} kB/s), {g['verify_cpu_pct_per_peer']}% of a core opening ads; a newcomer "
        f"holds the full table after one republish period ({g['newcomer_full_table_s']:g} s). Were only model-serving peers "
        f"({report['inputs']['model_share']:.0%}) to gossip ads: {g['model_ads_only_traffic_kb_per_s_per_peer_in']} kB/s in per peer.",
        f"- DHT ({d['lookups']} lookups, k={d['k']}, alpha={d['alpha']}): routing table {d['routing_table_peers_median']} "
        f"peers median; a lookup takes {d['lookup_hops_median']} hops median (max {d['lookup_hops_max']}), "
        f"{d['lookup_messages_median']} messages.",
    ]) + "\n"
