"""The figures of ``peermind bench trust``, computed from the collected runs (pure functions).

Per run: accuracy (Wilson interval) and latency of the answered questions; who answered
(adversaries included); per adversary and honest observer whether and after how many
evidence records (its *interactions* with that observer) it fell below the do-not-ask
threshold; honest peers any observer excluded (false positives); for the forger, forged
and replayed messages sent versus counted by the receivers and how many were answered;
for the flooder, its request outcomes and the refusals the receivers counted.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from peermind.bench import accuracy_ci, percentile

__all__ = ["figures", "markdown"]

DETECTION_BUDGET = 50
BOOTSTRAP_DRAWS = 2000
FORGED_TASK_ACTIONS = ("bad_signature_task", "replay_other_task", "replay_own_task")
FORGED_AD_ACTIONS = ("forged_ad", "replay_other_ad")


def _counter(view: dict[str, Any], name: str) -> dict[str, float]:
    return dict(view.get("counters", {}).get(name, {}))


def _answers(run: Any) -> dict[str, Any]:
    outcomes = run.outcomes
    ok = [o for o in outcomes if not o.get("error")]
    acc = accuracy_ci([bool(o["correct"]) for o in outcomes])
    latencies = [o["latency_ms"] for o in ok]
    adversaries = {n["peer_id"] for n in run.nodes if n["role"]}
    entries = {o["entry"] for o in outcomes}
    by_name = {n["name"]: n["peer_id"] for n in run.nodes}
    entry_ids = {by_name.get(e, "") for e in entries}
    phases: dict[str, Any] = {}
    for phase in ("before_attack", "under_attack"):
        lat = [o["latency_ms"] for o in ok if o.get("phase") == phase]
        if lat and any(o.get("phase") == "before_attack" for o in ok):
            phases[phase] = {"questions": len(lat), "latency_p50_ms": round(percentile(lat, 50), 1),
                             "latency_p95_ms": round(percentile(lat, 95), 1),
                             "accuracy": round(accuracy_ci([bool(o["correct"]) for o in outcomes
                                                            if o.get("phase") == phase]).value, 4)}
    if len(phases) == 2:
        phases["p95_change_under_attack"] = round(
            phases["under_attack"]["latency_p95_ms"] / phases["before_attack"]["latency_p95_ms"] - 1, 4)
        base = [o["latency_ms"] for o in ok if o.get("phase") == "before_attack"]
        attack = [o["latency_ms"] for o in ok if o.get("phase") == "under_attack"]
        phases["p95_change_ci"] = [round(x - 1, 4) for x in ratio_ci(base, attack, lambda v: percentile(v, 95))]
        phases.update(_throughput(outcomes, ok, run.timings, base, attack))
    return {
        "phases": phases,
        "questions": len(outcomes),
        "errors": len(outcomes) - len(ok),
        "accuracy": round(acc.value, 4),
        "accuracy_ci": [round(acc.lo, 4), round(acc.hi, 4)],
        "latency_p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "latency_p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "answered_by_adversary": sum(1 for o in ok if o.get("answered_by") in adversaries),
        "answered_remotely": sum(1 for o in ok if o.get("answered_by") not in entry_ids),
    }


def ratio_ci(base: Sequence[float], other: Sequence[float], statistic: Callable[[Sequence[float]], float],
             draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of ``statistic(other) / statistic(base)``, each sample
    resampled on its own (seeded: the same results give the same interval)."""
    rng = random.Random(seed)
    ratios = []
    for _ in range(draws):
        b = statistic(rng.choices(base, k=len(base)))
        if b > 0:
            ratios.append(statistic(rng.choices(other, k=len(other))) / b)
    ratios.sort()
    if not ratios:
        return (float("nan"), float("nan"))
    return ratios[int(0.025 * (len(ratios) - 1))], ratios[int(0.975 * (len(ratios) - 1))]


def _throughput(outcomes: Sequence[dict[str, Any]], ok: Sequence[dict[str, Any]], timings: dict[str, float],
                base: Sequence[float], attack: Sequence[float]) -> dict[str, Any]:
    """Answered questions per second of block time, attack phase over no-attack phase.

    Questions go ``concurrency`` at a time, so throughput is concurrency / mean latency:
    its interval is the bootstrap interval of the inverse mean-latency ratio."""
    seconds = {"before_attack": 0.0, "under_attack": 0.0}
    answered = {"before_attack": 0, "under_attack": 0}
    for index in {o["block"] for o in outcomes if "block" in o}:
        phase = "under_attack" if index % 2 else "before_attack"
        seconds[phase] += float(timings.get(f"block_{index}_s", 0.0))
    for o in ok:
        if o.get("phase") in answered:
            answered[o["phase"]] += 1
    if not (seconds["before_attack"] and seconds["under_attack"] and answered["before_attack"]):
        return {}
    rate = {k: answered[k] / seconds[k] for k in seconds}
    lo, hi = ratio_ci(attack, base, lambda v: sum(v) / len(v))
    return {"throughput_qps": {k: round(v, 4) for k, v in rate.items()},
            "throughput_ratio_under_attack": round(rate["under_attack"] / rate["before_attack"], 4),
            "throughput_ratio_ci": [round(lo, 4), round(hi, 4)]}


def _detection(run: Any, ask_threshold: float) -> dict[str, Any]:
    adversaries = {n["peer_id"]: n["name"] for n in run.nodes if n["role"]}
    honest = {n["peer_id"]: n["name"] for n in run.nodes if not n["role"]}
    per_adversary: dict[str, Any] = {}
    false_positives: list[dict[str, Any]] = []
    for observer, view in run.observers.items():
        for row in view.get("peers", []):
            peer = row["peer"]
            if peer in adversaries:
                entry = per_adversary.setdefault(adversaries[peer], {"peer_id": peer, "observers": {}})
                if row["interactions"] or row.get("excluded"):
                    excluded = row.get("excluded")
                    entry["observers"][observer] = {
                        "interactions": row["interactions"],
                        "score": row["score"],
                        "standing": row["standing"],
                        "excluded_after": excluded["interactions"] if excluded else None,
                    }
            elif peer in honest and (row.get("excluded") or row["score"] < ask_threshold):
                false_positives.append({"observer": observer, "peer": honest[peer], "score": row["score"],
                                        "standing": row["standing"], "interactions": row["interactions"]})
    for entry in per_adversary.values():
        seen = entry["observers"].values()
        after = [o["excluded_after"] for o in seen if o["excluded_after"] is not None]
        entry["observers_with_evidence"] = len(entry["observers"])
        entry["observers_excluding"] = len(after)
        entry["max_interactions_to_exclusion"] = max(after) if after else None
        entry["all_excluded_within_budget"] = bool(seen) and len(after) == len(entry["observers"]) and max(after) <= DETECTION_BUDGET
    return {"adversaries": per_adversary, "false_positives": false_positives}


def _cpu(run: Any) -> dict[str, Any]:
    """CPU seconds per phase: honest nodes, adversaries, and the whole (shared) machine."""
    marks = getattr(run, "cpu_marks", {}) or {}
    roles = {n["name"]: n["role"] for n in run.nodes}
    out: dict[str, Any] = {}
    for phase, (a, b) in {"before_attack": ("start", "attack"), "attack": ("attack", "end")}.items():
        if a not in marks or b not in marks:
            continue
        d = {k: marks[b].get(k, 0.0) - marks[a].get(k, 0.0) for k in marks[b]}
        out[phase] = {
            "wall_s": round(d.get("wall", 0.0), 1),
            "honest_cpu_s": round(sum(v for k, v in d.items() if k in roles and not roles[k]), 1),
            "adversary_cpu_s": round(sum(v for k, v in d.items() if roles.get(k)), 1),
            "machine_busy_cpu_s": round(d.get("machine", 0.0), 1),
        }
    out.update(_cpu_by_block_kind(marks, roles))
    return out


def _cpu_by_block_kind(marks: dict[str, dict[str, float]], roles: dict[str, str]) -> dict[str, Any]:
    """CPU over the questions of all attack blocks and of all no-attack blocks (odd blocks attack),
    with the adversaries' and each honest node's mean share of a core."""
    sums: dict[str, dict[str, float]] = {}
    index = 0
    while f"block_{index}_start" in marks and f"block_{index}_end" in marks:
        a, b = marks[f"block_{index}_start"], marks[f"block_{index}_end"]
        total = sums.setdefault("attack_blocks" if index % 2 else "no_attack_blocks",
                                {"wall": 0.0, "honest": 0.0, "adversary": 0.0, "machine": 0.0})
        for key, value in b.items():
            delta = value - a.get(key, 0.0)
            kind = "wall" if key == "wall" else "machine" if key == "machine" else \
                "adversary" if roles.get(key) else "honest" if key in roles else None
            if kind is not None:
                total[kind] += delta
        index += 1
    n_honest = max(1, sum(1 for r in roles.values() if not r))
    return {kind: {"wall_s": round(t["wall"], 1), "honest_cpu_s": round(t["honest"], 1),
                   "adversary_cpu_s": round(t["adversary"], 1), "machine_busy_cpu_s": round(t["machine"], 1),
                   "adversary_cores": round(t["adversary"] / t["wall"], 3) if t["wall"] else None,
                   "honest_cores_per_node": round(t["honest"] / n_honest / t["wall"], 3) if t["wall"] else None}
            for kind, t in sums.items()}


def _global(run: Any) -> dict[str, Any]:
    """Mean EigenTrust share of honest peers and of adversaries, over the honest observers."""
    adversaries = {n["peer_id"] for n in run.nodes if n["role"]}
    honest_vals: list[float] = []
    adv_vals: list[float] = []
    for view in run.observers.values():
        for row in view.get("peers", []):
            (adv_vals if row["peer"] in adversaries else honest_vals).append(row.get("global_trust", 0.0))
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    return {"honest_mean": mean(honest_vals), "adversary_mean": mean(adv_vals),
            "adversary_max": round(max(adv_vals), 4) if adv_vals else None}


def _summed(stats: Sequence[dict[str, int]], action: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in stats:
        for key, value in s.items():
            if key.startswith(action + ":"):
                outcome = key.split(":", 1)[1]
                out[outcome] = out.get(outcome, 0) + int(value)
    return out


def _forger(run: Any) -> dict[str, Any] | None:
    stats = [s.get("counts", {}) for s in run.adversary_stats.values()]
    if not stats or not any(k.startswith("bad_signature_task") for s in stats for k in s):
        return None

    def total(suffix: str, actions: Sequence[str]) -> int:
        return sum(int(s.get(f"{a}:{suffix}", 0)) for s in stats for a in actions)

    counted_tasks = counted_ads = 0.0
    for view in run.observers.values():
        for label, value in _counter(view, "violations").items():
            kind, _, source = label.partition(",")
            if kind in ("bad_signature", "replay"):
                if source == "request":
                    counted_tasks += value
                elif source == "ad":
                    counted_ads += value
    turned_away = sum(_counter(view, "refusals").get("untrusted_reset", 0.0) for view in run.observers.values())
    sent_tasks = total("sent", FORGED_TASK_ACTIONS)
    delivered = sent_tasks - total("undelivered", FORGED_TASK_ACTIONS)
    return {
        "forged_tasks_sent": sent_tasks,
        "forged_tasks_delivered": delivered,
        "forged_tasks_refused_banned": total("refused:untrusted", FORGED_TASK_ACTIONS),
        "forged_tasks_answered": total("ACCEPTED", FORGED_TASK_ACTIONS),
        "forged_tasks_counted_by_receivers": int(counted_tasks),
        "forged_tasks_counted_share": round(counted_tasks / delivered, 4) if delivered else None,
        "forged_tasks_turned_away_banned": int(turned_away),
        "by_action": {a: _summed(stats, a) for a in (*FORGED_TASK_ACTIONS, *FORGED_AD_ACTIONS)},
        "forged_ads_published": total("sent", FORGED_AD_ACTIONS),
        "forged_ads_counted_by_receivers": int(counted_ads),
    }


def _flooder(run: Any) -> dict[str, Any] | None:
    stats = [s.get("counts", {}) for s in run.adversary_stats.values()]
    if not stats or not any("requests" in s for s in stats):
        return None
    outcomes: dict[str, int] = {}
    for s in stats:
        for k, v in s.items():
            outcomes[k] = outcomes.get(k, 0) + int(v)
    refusals: dict[str, float] = {}
    for view in run.observers.values():
        for reason, value in _counter(view, "refusals").items():
            refusals[reason] = refusals.get(reason, 0.0) + value
    return {"flood_outcomes": outcomes, "refusals_counted_by_receivers": refusals,
            "executed_share": round(outcomes.get("result", 0) / outcomes["requests"], 4) if outcomes.get("requests") else None}


DELIVERED_ENOUGH = 0.5
"""A flock that sent under half the requests its pacing allows did not run as designed (e.g. an
attacker starved of CPU): its blocks say nothing about the flock's cost..."""
TOLD_TO_WAIT_ENOUGH = 0.9
"""...unless the receivers held it back: at least this share of its requests got a typed reply,
most of them ``rate_limited``, whose retry hints it honours (the newcomer pool at work)."""


def _sybil_delivery(run: Any, flooder: dict[str, Any] | None, cpu: dict[str, Any]) -> dict[str, Any] | None:
    """Requests the sybil flock sent against the most its pacing allows in the attack blocks
    (identities x honest model nodes x seconds / pair interval)."""
    if run.scenario.role != "sybil" or not flooder:
        return None
    counts = flooder["flood_outcomes"]
    wall = (cpu.get("attack_blocks") or {}).get("wall_s")
    interval_s = counts.get("pair_interval_ms", 0) / 1000
    targets = sum(1 for n in run.nodes if not n["role"])
    if not wall or not interval_s or not targets:
        return None
    paced = counts.get("identities", 0) * targets * wall / interval_s
    requests = counts.get("requests", 0)
    share = requests / paced if paced else 0.0
    replied = counts.get("result", 0) + sum(v for k, v in counts.items() if k.startswith("refused:"))
    told_to_wait = counts.get("refused:rate_limited", 0)
    held_back = bool(requests) and replied >= TOLD_TO_WAIT_ENOUGH * requests and 2 * told_to_wait > requests
    return {"requests": requests, "paced_max": round(paced), "share": round(share, 4),
            "held_back_by_receivers": held_back, "ran_as_designed": share >= DELIVERED_ENOUGH or held_back}


def figures(runs: Sequence[Any]) -> dict[str, Any]:
    """One entry per run, plus comparisons against the clean run."""
    out: dict[str, Any] = {}
    clean = next((r for r in runs if not r.scenario.role and not r.error), None)
    clean_answers = _answers(clean) if clean is not None else None
    for run in runs:
        if run.error:
            out[run.scenario.name] = {"error": run.error}
            continue
        thresholds: dict[str, Any] = next(
            (v["thresholds"] for v in run.observers.values() if v.get("thresholds")), {})
        answers = _answers(run)
        entry: dict[str, Any] = {
            "role": run.scenario.role or "none",
            "trust": run.scenario.trust,
            "nodes": len(run.nodes),
            "rss_mb_total": round(sum(n.get("rss_mb_end") or n["rss_mb"] for n in run.nodes), 1),
            "rss_mb_max": max((n.get("rss_mb_end") or n["rss_mb"] for n in run.nodes), default=0),
            **answers,
            "timings": run.timings,
        }
        if clean_answers is not None and run is not clean:
            entry["accuracy_delta_points"] = round(100 * (answers["accuracy"] - clean_answers["accuracy"]), 2)
            if answers["latency_p95_ms"] and clean_answers["latency_p95_ms"]:
                entry["latency_p95_change"] = round(answers["latency_p95_ms"] / clean_answers["latency_p95_ms"] - 1, 4)
        detection = _detection(run, float(thresholds.get("ask", 0.12)))
        entry["detection"] = detection["adversaries"]
        entry["false_positives"] = detection["false_positives"]
        entry["global_trust"] = _global(run)
        entry["cpu"] = _cpu(run)
        entry["adversary_nice"] = getattr(run, "adversary_nice", {}) or {}
        entry["adversary_autogroup_nice"] = getattr(run, "adversary_autogroup_nice", {}) or {}
        entry["adversary_cpu_budget"] = getattr(run, "adversary_cpu_budget", {}) or {}
        delivery = _sybil_delivery(run, _flooder(run), entry["cpu"])
        if delivery:
            entry["sybil_delivery"] = delivery
        forger, flooder = _forger(run), _flooder(run)
        if forger:
            entry["forger"] = forger
        if flooder:
            entry["flooder"] = flooder
        out[run.scenario.name] = entry
    return out


def markdown(report: dict[str, Any]) -> str:
    """A human summary of the report (the JSON has everything)."""
    s = report["settings"]
    lines = [
        "# peermind bench trust",
        "",
        *([f"({report['note']})", ""] if report.get("note") else []),
        f"`{s.get('command') or 'peermind bench trust'}`",
        "",
        f"{s['nodes']} nodes ({_profile(s.get('profile', 'small'))}, {s['threads']} thread each), {s['adversaries']} adversaries "
        f"per scenario, {s['items']} {s['dataset']} test questions through {s['entry']} honest entry nodes "
        f"({s['concurrency']} at a time, mode auto); canary rate {s['canary_rate']}, cross-check rate "
        f"{s['cross_check_rate']}; adversary processes at nice {s.get('adversary_nice', 0)}"
        + (f", held together to {s['adversary_cpu']} of a core (cgroup quota, else duty cycle; what they "
           "used is below). " if s.get("adversary_cpu") else ", no CPU cap. ")
        +
        f"Machine: {report['machine']['cpus']} CPUs, {report['machine']['ram_mb']} MiB RAM"
        + (f"; load average (1/5/15 min) {report['machine']['load_start']} at the start, "
           f"{report['machine']['load_end']} at the end (other users' work included)."
           if report["machine"].get("load_start") else "."),
        "",
        "| scenario | accuracy (95% CI) | Δ vs clean | p50 / p95 ms | p95 Δ | answered by adversary | "
        "adversaries excluded (max records) | honest false positives | global trust adv / honest | RSS MiB (max) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in report["figures"].items():
        if "error" in f:
            lines.append(f"| {name} | failed: {f['error']} | | | | | | | | |")
            continue
        det = f.get("detection", {})
        if det:
            parts = []
            for adv, d in det.items():
                parts.append(f"{adv}: {d['observers_excluding']}/{d['observers_with_evidence']} "
                             f"({d['max_interactions_to_exclusion']})")
            excluded = "; ".join(parts)
        else:
            excluded = "-"
        delta = f.get("accuracy_delta_points")
        p95 = f.get("latency_p95_change")
        lines.append(
            f"| {name} | {100 * f['accuracy']:.1f}% ({100 * f['accuracy_ci'][0]:.1f}-{100 * f['accuracy_ci'][1]:.1f}) | "
            f"{'' if delta is None else f'{delta:+.1f} pt'} | {f['latency_p50_ms']} / {f['latency_p95_ms']} | "
            f"{'' if p95 is None else f'{100 * p95:+.0f}%'} | {f['answered_by_adversary']} | {excluded} | "
            f"{len(f['false_positives'])} | {_pair(f.get('global_trust', {}))} | "
            f"{f['rss_mb_total']:.0f} ({f['rss_mb_max']:.0f}) |"
        )
    for name, f in report["figures"].items():
        if f.get("forger"):
            g = f["forger"]
            lines += ["", f"**{name} — forged/replayed messages:** {g['forged_tasks_sent']} forged or replayed task "
                      f"requests sent ({g['forged_tasks_delivered']} delivered), {g['forged_tasks_answered']} answered, "
                      f"{g['forged_tasks_counted_by_receivers']} counted as bad_signature/replay by the receivers"
                      + (f", {g['forged_tasks_turned_away_banned']} reset unread once the forger was banned"
                         if g.get("forged_tasks_turned_away_banned") else "") + "; "
                      f"{g['forged_ads_published']} forged or "
                      f"replayed ads published, {g['forged_ads_counted_by_receivers']} counted on delivery "
                      "(after the ban, the forger is disconnected and blacklisted in gossip, so its later "
                      "publications reach no one). By action: "
                      + json_short(g["by_action"])]
        if f.get("flooder") and f["role"] == "sybil":
            g = f["flooder"]
            lines += ["", f"**{name} — sybil identities (one process):** outcomes {json_short(g['flood_outcomes'])}; "
                      f"refusals counted by receivers {json_short(g['refusals_counted_by_receivers'])}."]
        elif f.get("flooder"):
            g = f["flooder"]
            lines += ["", f"**{name} — flood:** outcomes {json_short(g['flood_outcomes'])}; refusals counted by "
                      f"receivers {json_short(g['refusals_counted_by_receivers'])}."]
        cpu = f.get("cpu", {}).get("attack")
        if f.get("phases") and cpu and cpu["wall_s"]:
            lines += ["", f"**{name} — CPU during the attack phase ({cpu['wall_s']} s on "
                      f"{report['machine']['cpus']} cores):** adversary processes {cpu['adversary_cpu_s']} CPU-s, "
                      f"honest nodes {cpu['honest_cpu_s']} CPU-s, whole machine (all users) "
                      f"{cpu['machine_busy_cpu_s']} CPU-s."]
        delivery = f.get("sybil_delivery")
        if delivery:
            lines += ["", f"**{name} — did the flock run?** it sent {delivery['requests']} requests of the "
                      f"~{delivery['paced_max']} its pacing allows in the attack blocks ({100 * delivery['share']:.1f}%)"
                      + (": fewer, because the receivers told it to wait (typed `rate_limited`, most of its "
                         "requests) and it honours their retry hints; the attack ran as designed."
                         if delivery.get("held_back_by_receivers") and delivery["share"] < DELIVERED_ENOUGH else
                         "." if delivery["ran_as_designed"] else
                         f": **under {100 * DELIVERED_ENOUGH:.0f}%, the attack did not run as designed; these blocks "
                         "are no figure on the flock's cost.**")]
        by_kind = f.get("cpu", {})
        if by_kind.get("attack_blocks") and by_kind.get("no_attack_blocks"):
            at, no = by_kind["attack_blocks"], by_kind["no_attack_blocks"]
            nice = f.get("adversary_nice") or {}
            group = f.get("adversary_autogroup_nice") or {}
            budget = f.get("adversary_cpu_budget") or {}
            held = (f"held to {budget['cores']} of a core by {budget['method']}, " if budget else "no CPU cap, ")
            lines += ["", f"**{name} — CPU over all blocks' questions (from /proc):** adversary processes "
                      f"({held}nice {', '.join(str(v) for v in nice.values()) or '?'}; session autogroup nice "
                      f"{', '.join(str(v) for v in group.values()) or 'not recorded'}) {at['adversary_cpu_s']} CPU-s in "
                      f"{at['wall_s']} s of attack ({at['adversary_cores']} of a core), {no['adversary_cpu_s']} CPU-s "
                      f"in {no['wall_s']} s without; each honest node {no['honest_cores_per_node']} of a core "
                      f"without the attack, {at['honest_cores_per_node']} under it; whole machine (all users) "
                      f"{no['machine_busy_cpu_s']} / {at['machine_busy_cpu_s']} CPU-s."]
        if f.get("phases", {}).get("p95_change_under_attack") is not None:
            ph = f["phases"]
            lines += ["", f"**{name} — paired latency (same testnet, alternating no-attack / attack blocks):** "
                      f"p95 {ph['before_attack']['latency_p95_ms']} ms without the attack, "
                      f"{ph['under_attack']['latency_p95_ms']} ms under it "
                      f"({100 * ph['p95_change_under_attack']:+.0f}%{_ci(ph.get('p95_change_ci'))}; n = "
                      f"{ph['before_attack']['questions']} / {ph['under_attack']['questions']}); p50 "
                      f"{ph['before_attack']['latency_p50_ms']} → {ph['under_attack']['latency_p50_ms']} ms."]
            if ph.get("throughput_ratio_under_attack") is not None:
                qps = ph["throughput_qps"]
                lines += ["", f"**{name} — throughput:** {qps['before_attack']} questions/s without the attack, "
                          f"{qps['under_attack']} under it: {100 * ph['throughput_ratio_under_attack']:.0f}% "
                          f"(95% CI of concurrency / mean latency {100 * ph['throughput_ratio_ci'][0]:.0f}%.."
                          f"{100 * ph['throughput_ratio_ci'][1]:.0f}%)."]
    lines += ["", "Detection: `x/y (n)` = x of the y honest observers that had evidence about the adversary "
              "excluded it (score below the do-not-ask threshold), the slowest after n records about it. "
              "Global trust: mean EigenTrust share of a peer as seen by the honest nodes (uniform: 1/nodes)."]
    return "\n".join(lines) + "\n"


def _profile(name: str) -> str:
    return {"small": "small profile: SmolLM2-135M",
            "mix": "mix profile: Gemma-3-270M on every third node, SmolLM2-135M on the others"}.get(name, f"{name} profile")


def _ci(ci: Sequence[float] | None) -> str:
    return "" if not ci else f", 95% CI {100 * ci[0]:+.0f}%..{100 * ci[1]:+.0f}%"


def _pair(g: dict[str, Any]) -> str:
    adv, honest = g.get("adversary_mean"), g.get("honest_mean")
    return "-" if honest is None else f"{'-' if adv is None else f'{adv:.3f}'} / {honest:.3f}"


def json_short(data: Any) -> str:
    return "`" + json.dumps(data, separators=(", ", ": ")) + "`"
