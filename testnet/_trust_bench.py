"""``peermind bench trust``: adversaries in a real testnet, with trust on and off.

Each scenario starts its own testnet of real node processes (small profile by default:
SmolLM2, one thread each; ``--profile mix`` adds Gemma-3 nodes), optionally with adversaries (``python -m peermind.testnet.adversary``),
tells active adversaries to start, asks benchmark questions (test split) through honest
entry nodes' APIs exactly as a client would (for the forger and flooder, in alternating
no-attack / attack blocks, a paired baseline in the same testnet), stops the adversaries, and collects what
every honest node says about its peers (``GET /peermind/trust``) and what each adversary
says it did (``adversary.json``). ``_trust_figures`` turns that into the figures.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from peermind.bench import Item, load_items
from peermind.node.client import NodeClient

from ._cpu_budget import CpuBudget
from ._eval_ask import ask_item
from ._launcher import NodeInfo, Testnet
from .adversary import GO_FILE, PAUSE_FILE, STATS_FILE, STOP_FILE

__all__ = ["RunResult", "Scenario", "TrustBenchSettings", "refigure", "run_scenario", "run_trust_bench"]

Say = Callable[[str], None]
ACTIVE_ROLES = ("forger", "flooder", "sybil")
"""Roles that attack on their own: their questions alternate between attack and no-attack blocks."""
ATTACK_RAMP_S = 5.0
BLOCKS = 4
SETTLE_S = 20.0


@dataclass(frozen=True)
class TrustBenchSettings:
    nodes: int = 10
    profile: str = "small"
    """Testnet profile: ``small`` (SmolLM2 everywhere) or ``mix`` (every third node Gemma-3):
    honest peers of a stronger model must not be excluded for disagreeing with weaker ones."""
    adversaries: int = 2
    roles: tuple[str, ...] = ("wrong", "garbage", "forger", "flooder")
    dataset: str = "arc_easy"
    items: int = 200
    entry: int = 2
    concurrency: int = 2
    canary_rate: float = 0.3
    cross_check_rate: float = 0.1
    opinion_interval_s: float = 10.0
    flood_rate: float = 20.0
    adversary_nice: int = 0
    """Niceness of adversary processes. Not how the attacker is kept to its own machine's worth:
    at nice 19 on a busy machine it got 0.003 of a core (no attack happened); see adversary_cpu."""
    adversary_cpu: float = 0.5
    newcomer_work_share: float | None = None
    """trust.newcomer_work_share of the nodes; None: the node's own default (the Sybil defence on)."""
    """Cores all adversary processes of a scenario may use together (``_cpu_budget.CpuBudget``:
    a cgroup quota, else a duty cycle): an attacker computes on its own machine, so on this shared
    one it gets a fixed, known share, neither starved nor taking the honest nodes' cores; 0 = no cap."""
    contrast: bool = True
    clean: bool = True
    """Run the clean scenario (a testnet without adversaries); the attack scenarios' paired
    no-attack blocks are their own baseline, so a run about one attack may skip it."""
    threads: int = 1
    timeout_s: float = 120.0
    out: Path = Path("docs/results/trust-bench.json")
    testnet_dir: Path | None = None
    command: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    role: str  # "" = clean
    trust: bool


@dataclass
class RunResult:
    scenario: Scenario
    nodes: list[dict[str, Any]] = field(default_factory=list)  # name, peer_id, role, rss_mb
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    observers: dict[str, dict[str, Any]] = field(default_factory=dict)  # honest node -> /peermind/trust
    adversary_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cpu_marks: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> process/machine CPU s
    adversary_nice: dict[str, int] = field(default_factory=dict)  # adversary node -> niceness read from /proc
    adversary_autogroup_nice: dict[str, int | None] = field(default_factory=dict)  # its session group's (sched_autogroup)
    adversary_cpu_budget: dict[str, Any] = field(default_factory=dict)  # CpuBudget.describe(): cores, method
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def scenarios(settings: TrustBenchSettings) -> list[Scenario]:
    out = [Scenario("clean", "", True)] if settings.clean else []
    for role in settings.roles:
        out.append(Scenario(f"{role}/trust-on", role, True))
        if settings.contrast:
            out.append(Scenario(f"{role}/trust-off", role, False))
    return out


def _node_args(settings: TrustBenchSettings, trust: bool) -> list[str]:
    return [
        "--set", f"trust.enabled={'true' if trust else 'false'}",
        "--set", f"trust.canary_rate={settings.canary_rate}",
        "--set", f"trust.cross_check_rate={settings.cross_check_rate}",
        "--set", f"trust.opinion_interval_s={settings.opinion_interval_s}",
        *(() if settings.newcomer_work_share is None
          else ("--set", f"trust.newcomer_work_share={settings.newcomer_work_share}")),
        "--no-join-training",
    ]


def _cpu_s(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def _nice(pid: int) -> int:
    """The niceness the process actually runs at (the adversary sets its own at start)."""
    try:
        return int(psutil.Process(pid).nice())
    except psutil.Error:
        return 0


def _autogroup_nice(pid: int) -> int | None:
    """The niceness of the process's session group, which ranks it against other sessions'
    processes (``/proc/<pid>/autogroup``: "/autogroup-N nice K"); None without autogroups."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def _machine_busy_s() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _cpu_mark(nodes: list[NodeInfo]) -> dict[str, float]:
    return {"wall": time.monotonic(), "machine": _machine_busy_s(), **{x.name: _cpu_s(x.pid) for x in nodes}}


def _rss_mb(pid: int) -> float:
    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.Error:
        return 0.0


def _ask_all(entries: list[NodeInfo], items: list[Item], settings: TrustBenchSettings, say: Say) -> list[dict[str, Any]]:
    """Every item through an entry node (round robin), ``concurrency`` at a time, as a client would."""
    if not items:
        return []
    local = threading.local()
    done = [0]
    lock = threading.Lock()

    def client_for(api: str) -> NodeClient:
        clients = getattr(local, "clients", None)
        if clients is None:
            clients = local.clients = {}
        if api not in clients:
            clients[api] = NodeClient(api, timeout_s=settings.timeout_s + 30)
        return clients[api]

    def one(i: int) -> dict[str, Any]:
        entry = entries[i % len(entries)]
        outcome = ask_item(client_for(entry.api), items[i], mode="auto", timeout_s=settings.timeout_s)
        with lock:
            done[0] += 1
            if done[0] % 25 == 0:
                say(f"  {done[0]}/{len(items)} questions")
        return {"item": items[i].id, "entry": entry.name, "finished_at": time.time(), **outcome.to_json()}

    with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
        return list(pool.map(one, range(len(items))))


def _trust_view(node: NodeInfo) -> dict[str, Any]:
    try:
        return httpx.get(f"{node.api_url}/peermind/trust", timeout=30.0).json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": str(exc)}


def _signal_adversaries(nodes: list[NodeInfo], filename: str, present: bool) -> None:
    for x in nodes:
        if x.role:
            path = Path(x.data_dir) / filename
            if present:
                path.write_text(filename)
            else:
                path.unlink(missing_ok=True)


def _interleaved(result: RunResult, nodes: list[NodeInfo], entries: list[NodeInfo], items: list[Item],
                 settings: TrustBenchSettings, say: Say) -> None:
    """Questions in BLOCKS blocks, the attack held in the odd ones and paused in the even ones.

    Alternating (A B A B) pairs each attack block with a baseline block of the same testnet
    at a similar age, so warm-up (router, trust, probing) and machine noise fall on both
    sides instead of biasing a single before/after split. CPU marks ("attack"/"end") cover the
    first pair; ``block_<i>_start``/``block_<i>_end`` bracket every block's questions.
    """
    size = -(-len(items) // BLOCKS)
    for index in range(BLOCKS):
        block = items[index * size:(index + 1) * size]
        attacking = index % 2 == 1
        if attacking:
            _signal_adversaries(nodes, PAUSE_FILE, False)
            _signal_adversaries(nodes, GO_FILE, True)
            if "attack" not in result.cpu_marks:
                result.cpu_marks["attack"] = _cpu_mark(nodes)
            time.sleep(ATTACK_RAMP_S)
        elif index:
            _signal_adversaries(nodes, PAUSE_FILE, True)
            time.sleep(SETTLE_S)  # work the attack queued on honest nodes ends (its deadline)
        phase = "under_attack" if attacking else "before_attack"
        say(f"  block {index + 1}/{BLOCKS}: {len(block)} questions, {'attack' if attacking else 'no attack'}")
        began = time.monotonic()
        result.cpu_marks[f"block_{index}_start"] = _cpu_mark(nodes)
        result.outcomes += [{**o, "phase": phase, "block": index} for o in _ask_all(entries, block, settings, say)]
        result.cpu_marks[f"block_{index}_end"] = _cpu_mark(nodes)
        result.timings[f"block_{index}_s"] = round(time.monotonic() - began, 2)  # throughput per phase
        if index == 1:
            result.cpu_marks["end"] = _cpu_mark(nodes)


def run_scenario(scenario: Scenario, settings: TrustBenchSettings, root: Path, items: list[Item], say: Say) -> RunResult:
    """One testnet, one scenario; the testnet is always taken down again."""
    result = RunResult(scenario)
    n_adv = settings.adversaries if scenario.role else 0
    roles = [""] * (settings.nodes - n_adv) + [scenario.role] * n_adv
    net = Testnet(root / scenario.name.replace("/", "-"))
    env_before = dict(os.environ)
    os.environ.update({
        "PEERMIND_ADVERSARY_START_S": "100000",  # active adversaries wait for adversary.go
        "PEERMIND_FLOOD_RATE": str(settings.flood_rate),
        "PEERMIND_ADVERSARY_NICE": str(settings.adversary_nice),
    })
    started = time.monotonic()
    budget: CpuBudget | None = None
    try:
        nodes = net.up(settings.nodes, profile=settings.profile, roles=roles, extra_args=_node_args(settings, scenario.trust),
                       threads=settings.threads, timeout_s=max(240.0, 30.0 * settings.nodes), progress=lambda m: None)
        result.timings["up_s"] = round(time.monotonic() - started, 1)
        result.nodes = [{"name": x.name, "peer_id": x.peer_id, "role": x.role, "rss_mb": _rss_mb(x.pid)} for x in nodes]
        say(f"  {len(nodes)} nodes up in {result.timings['up_s']}s, "
            f"RSS {sum(n['rss_mb'] for n in result.nodes):.0f} MiB total")
        result.adversary_nice = {x.name: _nice(x.pid) for x in nodes if x.role}
        result.adversary_autogroup_nice = {x.name: _autogroup_nice(x.pid) for x in nodes if x.role}
        if n_adv and settings.adversary_cpu > 0:  # one attacker machine's worth, before any attack
            budget = CpuBudget(settings.adversary_cpu, "bench-trust")
            for x in nodes:
                if x.role:
                    budget.add(x.pid)
            result.adversary_cpu_budget = budget.describe()
        honest = [x for x in nodes if not x.role]
        entries = honest[: settings.entry]
        asked = time.monotonic()
        result.cpu_marks["start"] = _cpu_mark(nodes)
        if scenario.role in ACTIVE_ROLES:
            _interleaved(result, nodes, entries, items, settings, say)
        else:
            result.outcomes = [{**o, "phase": "under_attack" if scenario.role else "clean"}
                               for o in _ask_all(entries, items, settings, say)]
            result.cpu_marks["end"] = _cpu_mark(nodes)
        result.timings["questions_s"] = round(time.monotonic() - asked, 1)
        for x in nodes:
            if x.role:
                (Path(x.data_dir) / STOP_FILE).write_text("stop")
        time.sleep(4.0)  # in-flight attacks finish; counters settle
        result.observers = {x.name: _trust_view(x) for x in honest}
        for x in nodes:
            if x.role:
                try:
                    result.adversary_stats[x.name] = json.loads((Path(x.data_dir) / STATS_FILE).read_text())
                except (OSError, ValueError) as exc:
                    result.adversary_stats[x.name] = {"error": str(exc)}
        result.nodes = [{**n, "rss_mb_end": _rss_mb(x.pid)} for n, x in zip(result.nodes, nodes, strict=True)]
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        say(f"  FAILED: {result.error}")
    finally:
        net.down()
        if budget is not None:
            budget.close()
        os.environ.clear()
        os.environ.update(env_before)
    result.timings["total_s"] = round(time.monotonic() - started, 1)
    return result


def refigure(path: Path, *, note: str | None = None) -> dict[str, Any]:
    """Recompute the figures and the Markdown of an existing results JSON (same runs); ``note``
    (kept in the JSON, shown under the title) says what happened to the file after its run."""
    from ._trust_figures import figures, markdown

    report = json.loads(path.read_text())
    if note:
        report["note"] = note
    runs = []
    for data in report["runs"]:
        fields = {k: v for k, v in data.items() if k != "scenario"}
        runs.append(RunResult(Scenario(**data["scenario"]), **fields))
    report["figures"] = figures(runs)
    path.write_text(json.dumps(report, indent=2, default=str))
    path.with_suffix(".md").write_text(markdown(report))
    return report


def run_trust_bench(settings: TrustBenchSettings, say: Say) -> dict[str, Any]:
    """Every scenario in turn; writes the JSON and Markdown results next to ``settings.out``."""
    from ._trust_figures import figures, markdown

    items = load_items(settings.dataset, "test", limit=settings.items)
    load_start = os.getloadavg()
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="peermind-trust-bench-") as tmp:
        root = settings.testnet_dir or Path(tmp)
        for scenario in scenarios(settings):
            say(f"scenario {scenario.name}: {settings.nodes} nodes"
                + (f", {settings.adversaries} x {scenario.role}" if scenario.role else "")
                + f", trust {'on' if scenario.trust else 'off'}, {len(items)} questions")
            runs.append(run_scenario(scenario, settings, root, items, say))
    report = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "machine": {"cpus": os.cpu_count(), "ram_mb": round(psutil.virtual_memory().total / 2**20),
                    "load_start": [round(x, 2) for x in load_start],
                    "load_end": [round(x, 2) for x in os.getloadavg()]},
        "figures": figures(runs),
        "runs": [r.to_json() for r in runs],
    }
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_text(json.dumps(report, indent=2, default=str))
    settings.out.with_suffix(".md").write_text(markdown(report))
    return report
