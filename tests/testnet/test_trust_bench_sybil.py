"""bench trust's Sybil scenario, unit level: the flag path, the pacing, the paired figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from peermind.node.cli import main as peermind_main
from peermind.testnet import _trust_bench
from peermind.testnet._adversary_sybil import ESSAY, MAX_TOKENS, pair_interval_s
from peermind.testnet._trust_bench import RunResult, Scenario, TrustBenchSettings, scenarios
from peermind.testnet._trust_figures import figures, markdown, ratio_ci
from peermind.trust import TrustParams


def test_no_clean_runs_only_the_attack_scenarios_and_profile_picks_the_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[TrustBenchSettings] = []

    def fake_run(settings: TrustBenchSettings, say: Any) -> dict[str, Any]:  # the testnet run is the slow part
        seen.append(settings)
        settings.out.with_suffix(".md").write_text("# report\n")
        return {}

    monkeypatch.setattr(_trust_bench, "run_trust_bench", fake_run)
    out = tmp_path / "sybil.json"
    code = peermind_main(["bench", "trust", "--nodes", "5", "--adversaries", "1", "--roles", "sybil",
                          "--no-contrast", "--no-clean", "--profile", "mix", "--out", str(out)])
    assert code == 0 and len(seen) == 1 and seen[0].profile == "mix"
    assert [s.name for s in scenarios(seen[0])] == ["sybil/trust-on"]
    assert [s.name for s in scenarios(TrustBenchSettings(roles=("sybil",), contrast=False))] == [
        "clean", "sybil/trust-on"]


def test_each_sybil_identity_stays_within_a_newcomers_request_and_work_allowances() -> None:
    params = TrustParams()
    interval = pair_interval_s(params, len(ESSAY), MAX_TOKENS)
    share = params.newcomer_limit_factor
    assert 1 / interval < params.request_rate * share
    assert (len(ESSAY) / 4 + MAX_TOKENS) / interval < params.work_rate * share  # charged: prompt + max_tokens


def _run(base_ms: list[float], attack_ms: list[float], block_s: tuple[float, float, float, float]) -> RunResult:
    run = RunResult(Scenario("sybil/trust-on", "sybil", True),
                    nodes=[{"name": "node-0", "peer_id": "P0", "role": "", "rss_mb": 1.0},
                           {"name": "node-1", "peer_id": "P1", "role": "sybil", "rss_mb": 1.0}])
    half = len(base_ms) // 2
    blocks = [base_ms[:half], attack_ms[:half], base_ms[half:], attack_ms[half:]]
    for index, latencies in enumerate(blocks):
        phase = "under_attack" if index % 2 else "before_attack"
        run.outcomes += [{"item": f"{index}-{i}", "entry": "node-0", "correct": True, "latency_ms": ms,
                          "answered_by": "P0", "phase": phase, "block": index} for i, ms in enumerate(latencies)]
        run.timings[f"block_{index}_s"] = block_s[index]
    return run


def test_the_paired_figures_give_p95_and_throughput_ratios_with_intervals() -> None:
    base = [1000.0 + 10 * i for i in range(40)]
    slow = [2 * x for x in base]
    f = figures([_run(base, slow, (20.0, 40.0, 20.0, 40.0))])["sybil/trust-on"]["phases"]
    assert f["p95_change_under_attack"] == pytest.approx(1.0)
    lo, hi = f["p95_change_ci"]
    assert lo <= 1.0 <= hi
    assert f["throughput_ratio_under_attack"] == pytest.approx(0.5)
    assert f["throughput_ratio_ci"][0] <= 0.5 <= f["throughput_ratio_ci"][1]
    same = figures([_run(base, base, (20.0, 20.0, 20.0, 20.0))])["sybil/trust-on"]["phases"]
    assert same["throughput_ratio_under_attack"] == pytest.approx(1.0)
    report = {"settings": {"command": "peermind bench trust --roles sybil", "nodes": 2, "threads": 1, "adversaries": 1,
                           "items": 80, "dataset": "arc_easy", "entry": 1, "concurrency": 2, "canary_rate": 0.3,
                           "cross_check_rate": 0.1},
              "machine": {"cpus": 2, "ram_mb": 1, "load_start": [1.0, 1.0, 1.0], "load_end": [2.0, 2.0, 2.0]},
              "figures": figures([_run(base, slow, (20.0, 40.0, 20.0, 40.0))])}
    text = markdown(report)
    assert "throughput" in text and "95% CI" in text and "load average" in text


def test_ratio_ci_is_seeded_and_covers_a_known_ratio() -> None:
    base = [float(x) for x in range(1, 101)]
    lo, hi = ratio_ci(base, [3 * x for x in base], lambda v: sum(v) / len(v))
    assert 2.0 < lo < 3.0 < hi < 4.0  # each side resampled on its own
    assert ratio_ci(base, base[::-1], max) == ratio_ci(base, base[::-1], max)


def _with_block_marks(run: RunResult) -> RunResult:
    """CPU marks as the bench takes them: 10 s blocks, the adversary busy only in attack blocks."""
    cpu = {"node-0": 0.0, "node-1": 0.0, "machine": 0.0}
    for index in range(4):
        run.cpu_marks[f"block_{index}_start"] = {"wall": 10.0 * index, **cpu}
        cpu = {"node-0": cpu["node-0"] + (3.0 if index % 2 else 5.0),
               "node-1": cpu["node-1"] + (1.0 if index % 2 else 0.0), "machine": cpu["machine"] + 20.0}
        run.cpu_marks[f"block_{index}_end"] = {"wall": 10.0 * index + 10.0, **cpu}
    run.adversary_nice = {"node-1": 19}
    return run


def test_cpu_is_summed_over_attack_and_no_attack_blocks_with_the_attackers_niceness() -> None:
    base = [1000.0 + 10 * i for i in range(40)]
    f = figures([_with_block_marks(_run(base, base, (10.0, 10.0, 10.0, 10.0)))])["sybil/trust-on"]
    attack, quiet = f["cpu"]["attack_blocks"], f["cpu"]["no_attack_blocks"]
    assert attack["adversary_cpu_s"] == 2.0 and attack["adversary_cores"] == pytest.approx(0.1)
    assert quiet["adversary_cpu_s"] == 0.0
    assert attack["honest_cores_per_node"] == pytest.approx(0.3) and quiet["honest_cores_per_node"] == pytest.approx(0.5)
    assert f["adversary_nice"] == {"node-1": 19}


def test_refigure_with_a_note_keeps_the_figures_and_shows_the_note(tmp_path: Path) -> None:
    base = [1000.0 + 10 * i for i in range(40)]
    run = _with_block_marks(_run(base, [2 * x for x in base], (10.0, 20.0, 10.0, 20.0)))
    out = tmp_path / "trust-bench-sybil-before2.json"
    report = {"settings": {"command": "peermind bench trust --roles sybil", "nodes": 2, "threads": 1,
                           "adversaries": 1, "items": 80, "dataset": "arc_easy", "entry": 1, "concurrency": 2,
                           "canary_rate": 0.3, "cross_check_rate": 0.1},
              "machine": {"cpus": 2, "ram_mb": 1, "load_start": [1.0, 1.0, 1.0], "load_end": [2.0, 2.0, 2.0]},
              "runs": [run.to_json()]}
    out.write_text(json.dumps(report, default=str))
    code = peermind_main(["bench", "trust", "--refigure", "--note", "renamed after its run", "--out", str(out)])
    assert code == 0
    saved = json.loads(out.read_text())
    assert saved["note"] == "renamed after its run"
    assert saved["figures"]["sybil/trust-on"]["phases"]["p95_change_under_attack"] == pytest.approx(1.0)
    text = out.with_suffix(".md").read_text()
    assert text.splitlines()[2] == "(renamed after its run)"
    assert "of a core" in text and "nice 19" in text


def test_an_adversary_lowers_its_session_groups_priority_not_only_its_own(tmp_path: Path) -> None:
    """Each testnet node runs in its own session; with sched_autogroup the scheduler shares the CPU
    between sessions first, so os.nice alone left the attacker's share against honest nodes as it was."""
    if not Path("/proc/self/autogroup").exists():
        pytest.skip("this kernel groups no sessions (no /proc/self/autogroup)")
    code = "from peermind.testnet.adversary import lower_priority; import os; lower_priority(19); " \
           "print(os.nice(0), open('/proc/self/autogroup').read().split()[-1])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["19", "19"]


def test_a_flock_that_sent_too_few_requests_is_flagged_as_not_run() -> None:
    base = [1000.0 + 10 * i for i in range(40)]
    run = _with_block_marks(_run(base, base, (10.0, 10.0, 10.0, 10.0)))  # 20 s of attack blocks, 1 honest node
    run.adversary_stats = {"node-1": {"counts": {"identities": 10, "pair_interval_ms": 4000, "requests": 5}}}
    f = figures([run])["sybil/trust-on"]
    assert f["sybil_delivery"] == {"requests": 5, "paced_max": 50, "share": 0.1, "held_back_by_receivers": False,
                                   "ran_as_designed": False}
    report = {"settings": {"command": "peermind bench trust --roles sybil", "nodes": 2, "threads": 1, "adversaries": 1,
                           "items": 80, "dataset": "arc_easy", "entry": 1, "concurrency": 2, "canary_rate": 0.3,
                           "cross_check_rate": 0.1},
              "machine": {"cpus": 2, "ram_mb": 1, "load_start": [1.0, 1.0, 1.0], "load_end": [2.0, 2.0, 2.0]},
              "figures": {"sybil/trust-on": f}}
    assert "did not run as designed" in markdown(report)
    run.adversary_stats["node-1"]["counts"]["requests"] = 45
    assert figures([run])["sybil/trust-on"]["sybil_delivery"]["ran_as_designed"] is True
    # few requests because the receivers' pools told it to wait (and it waits): the attack ran
    run.adversary_stats["node-1"]["counts"].update({"requests": 20, "refused:rate_limited": 18, "result": 2})
    held = figures([run])["sybil/trust-on"]
    assert held["sybil_delivery"]["held_back_by_receivers"] and held["sybil_delivery"]["ran_as_designed"]
    assert "told it to wait" in markdown({**report, "figures": {"sybil/trust-on": held}})
    run.adversary_stats["node-1"]["counts"].update({"refused:rate_limited": 0, "result": 0, "failed": 20})  # timed out
    assert figures([run])["sybil/trust-on"]["sybil_delivery"]["ran_as_designed"] is False
