"""Pure parts of ``bench scale``: kernel counters parsed, light nodes planned, the simulation's mechanics."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from peermind.testnet._profiles import LIGHT, SMALL, plan
from peermind.testnet._scale import markdown
from peermind.testnet._scale_sim import build_mesh, flood
from peermind.testnet._traffic import SocketBytes, bytes_per_pid, parse
from peermind.testnet.errors import TestnetError

SS = """\
0      0      127.0.0.1:44921 127.0.0.1:53148 users:(("python",pid=11,fd=19))
\t bbr wscale:10,10 rto:216 cwnd:18 bytes_sent:420 bytes_acked:420 bytes_received:422 segs_out:12
0      0      127.0.0.1:37565 127.0.0.1:42624 users:(("python",pid=12,fd=20))
\t bbr cwnd:52 bytes_sent:71251 bytes_retrans:260 bytes_acked:70991 bytes_received:52135 segs_out:497
0      0      127.0.0.1:8080 127.0.0.1:50000 users:(("python",pid=11,fd=21))
\t bbr bytes_sent:999999 bytes_received:999999
0      0      127.0.0.1:1234 127.0.0.1:4321 users:(("other",pid=99,fd=3))
\t bbr bytes_sent:5 bytes_received:5
"""


def test_kernel_counters_are_read_per_socket_of_our_pids_without_the_api() -> None:
    got = parse(SS, {11, 12}, skip_ports={8080})
    assert got == {
        (11, "127.0.0.1:44921", "127.0.0.1:53148"): SocketBytes(420, 422),
        (12, "127.0.0.1:37565", "127.0.0.1:42624"): SocketBytes(71251, 52135),
    }
    later = dict(got)
    later[(11, "127.0.0.1:44921", "127.0.0.1:53148")] = SocketBytes(1420, 522)
    later[(11, "127.0.0.1:5", "127.0.0.1:6")] = SocketBytes(10, 20)  # opened in between: counts whole
    assert bytes_per_pid(got, later) == {11: 1000 + 100 + 30, 12: 0}


def test_light_nodes_come_after_the_model_nodes() -> None:
    assert plan("small", 2, light=3) == [SMALL, SMALL, LIGHT, LIGHT, LIGHT]
    assert LIGHT.model == "none"
    with pytest.raises(TestnetError):
        plan("small", 2, light=-1)


def test_a_flood_reaches_every_peer_of_the_mesh_with_duplicates() -> None:
    rng = random.Random(1)
    mesh = build_mesh(300, rng)
    assert all(4 <= len(m) <= 12 for m in mesh)
    hops, ms, copies = flood(mesh, 0, rng, verify_ms=0.1)
    assert 2 <= hops < 30 and ms > 0
    assert sum(c >= 1 for c in copies) >= 299  # everyone but (maybe) the origin heard it
    assert sum(copies) / len(copies) > 1.5  # gossipsub sends duplicates: that is its price


def test_report_names_the_goal_and_the_load() -> None:
    run = {"name": "scale", "models": 5, "light": 45, "ready_s": 80.0, "converge_s": 4.2, "converge_timeout_s": 180.0,
           "ads_held_share": 1.0,
           "traffic_bytes_per_s_per_node": {"light": 900.0, "model": 1500.0},
           "rss_mb_per_node": {"light": 190.0, "model": 360.0}, "pss_mb_total": 9000.0,
           "idle_cpu_pct_per_node": {"light": 2.0, "model": 3.0}, "connections_per_node_median": 49.0,
           "load_before": "up 3:00, load average: 3.1, 2.0, 1.0", "load_after": "load average: 9.5, 5.0, 2.0"}
    text = markdown({"command": "peermind bench scale", "machine": {"cpus": 2, "ram_mb": 24000},
                     "runs": [dict(run, name="baseline"), run], "ratios": {"converge_s": 1.5},
                     "goals": {"converge_under_10s": True}})
    assert "| scale | 5 + 45 | 80.0 | 4.2 | 900.0 / 1500.0 |" in text and "3.1 -> 9.5" in text
    assert "Goal (convergence under 10 s): met" in text
    busy = markdown({"command": "c", "machine": {"cpus": 2, "ram_mb": 1}, "runs": [
        dict(run, converge_machine_busy_pct=97.5, converge_cpu_pct_per_node={"light": 3.1, "model": 40.0})]})
    assert "While ads spread (scale): machine 97.5% busy (all cores); CPU % per node, median, light / model: 3.1 / 40.0." in busy


def test_busy_share_is_the_non_idle_cpu_time_between_two_samples() -> None:
    from collections import namedtuple

    from peermind.testnet._scale import _busy_pct

    times = namedtuple("times", "user system idle iowait")
    assert _busy_pct(times(10, 5, 80, 5), times(40, 15, 100, 5)) == 66.7  # 40 busy of 60
    assert _busy_pct(times(1, 1, 1, 1), times(1, 1, 1, 1)) == 0.0


def test_bench_scale_simulate_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    done = subprocess.run([sys.executable, "-m", "peermind.node.cli", "bench", "scale", "--simulate", "80",
                           "--out", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["peers"] == 80 and report["ad_table"]["ads"] == 80
    assert report["ad_table"]["board_bytes_per_ad"] > 0 and report["gossip"]["copies_received_per_ad"] >= 1
    assert report["dht"]["routing_table_peers_median"] >= 40 and report["dht"]["lookup_hops_max"] <= 3
    assert "80 peers, simulated" in done.stdout and out.with_suffix(".md").exists()


def test_link_settings_parse_and_combine() -> None:
    from peermind.testnet._links import Link, parse_link, parse_link_arg, path_link

    name, link = parse_link_arg("node-2:rtt=80ms,jitter=10ms,bw=2mbit,loss=1%")
    assert name == "node-2" and link == Link(rtt_ms=80.0, jitter_ms=10.0, bw_bps=2e6, loss=0.01)
    assert parse_link("rtt=0.2s").rtt_ms == 200.0 and parse_link("bw=500kbit").bw_bps == 5e5
    for bad in ("rtt=fast", "bw=2", "loss=100%", "delay=5ms"):
        with pytest.raises(TestnetError):
            parse_link(bad)
    with pytest.raises(TestnetError):
        parse_link_arg("rtt=80ms")
    both = path_link(link, Link(rtt_ms=20.0, bw_bps=1e6, loss=0.01))
    assert both.rtt_ms == 100.0 and both.bw_bps == 1e6 and both.loss == pytest.approx(1 - 0.99**2)
    assert "rtt=80ms" in link.describe() and "bw=2mbit" in link.describe()


def test_a_large_testnet_republishes_ads_slower_up_to_the_node_default() -> None:
    """Small testnets keep 5 s ads (faults show fast); large ones hold the network to ~2 ads/s."""
    from peermind.node.config import AdConfig
    from peermind.testnet._launcher import republish_s

    assert [republish_s(n) for n in (3, 10, 20, 30, 50, 200)] == [5.0, 5.0, 10.0, 15.0, 20.0, 20.0]
    assert republish_s(200) == AdConfig().republish_s  # a large testnet gossips no faster than a real network


def test_a_large_testnet_joins_most_light_nodes_through_light_seeds() -> None:
    """Model nodes join through node-0, two light nodes per model node through the model nodes, the rest through those."""
    from peermind.testnet._launcher import LIGHT_SEEDS_PER_MODEL, join_waves

    waves = join_waves(5, 45)
    assert [through for _ids, through in waves] == ["first", "models", "light seeds"]
    assert waves[0][0] == [1, 2, 3, 4]
    assert waves[1][0] == list(range(5, 5 + 5 * LIGHT_SEEDS_PER_MODEL))
    assert waves[2][0] == list(range(5 + 5 * LIGHT_SEEDS_PER_MODEL, 50))
    # Every node starts exactly once; small testnets keep one light wave through the model nodes.
    assert sorted(i for ids, _ in waves for i in ids) == list(range(1, 50))
    assert join_waves(2, 1) == [([1], "first"), ([2], "models")]
    assert join_waves(3, 0) == [([1, 2], "first"), ([], "models")]
    assert [through for _ids, through in join_waves(1, 5)] == ["first", "models", "light seeds"]
