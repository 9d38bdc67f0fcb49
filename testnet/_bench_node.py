"""What the node and the network path cost on top of the model itself.

Four figures, each against its goal:

* overhead of the network path: the same prompts answered by ``llama_cpp`` directly in
  this process (same model, threads, 64 tokens, temperature 0) and by a peer over a
  2-node loopback testnet (node A's HTTP API with ``peer=B``, so every task crosses
  libp2p). Per request, overhead = client latency - the latency B itself reports for
  the generation (its task log), so model speed drops out (goal: +<5 % in total,
  <15 ms p50 per request);
* idle RSS of a daemon with SmolLM2 loaded (goal < 400 MB), with the heavy libraries
  it has mapped (torch / sentence-transformers should not be there at idle);
* time from B's start (and from its "model loaded" log event) to A holding B's ad
  (goal < 3 s after the model is loaded).

Direct and network requests alternate prompt by prompt (see ``run_network``); nodes
run one OS process each, as users run them.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from .errors import TestnetError

PROMPTS: tuple[str, ...] = (
    "Explain how a bicycle stays upright while moving.",
    "Describe the water cycle for a ten-year-old.",
    "Write a short story about a lighthouse keeper.",
    "Explain why the sky is blue.",
    "Give advice to someone learning to cook.",
    "Describe how a bill becomes a law.",
    "Explain what a computer network is.",
    "Write a poem about autumn leaves.",
    "Describe the life cycle of a butterfly.",
    "Explain how vaccines train the immune system.",
    "Describe a busy market in the morning.",
    "Explain the difference between weather and climate.",
    "Write a letter thanking a teacher.",
    "Explain how bread rises.",
    "Describe how to plant a tree.",
    "Explain what gravity does on the Moon.",
    "Write a product description for a rain jacket.",
    "Explain how a library organises its books.",
    "Describe the sounds of a forest at night.",
    "Explain why exercise is good for the heart.",
)

GOALS = {"overhead_pct": 5.0, "overhead_p50_ms": 15.0, "idle_rss_mb": 400.0, "ad_after_model_s": 3.0}
HEAVY_LIBS = ("libtorch", "torch/lib", "sentence_transformers", "transformers/", "flwr", "cygrpc", "libarrow")
READY_TIMEOUT_S = 120.0
# The path is measured without trust's side traffic: canaries and cross-checks would add
# extra generations on B between the measured ones, and 20 back-to-back requests from a
# newcomer exceed its default rate allowance (refusal rate_limited). Idle learning is off
# for the same reason: between two measured requests A is idle, and a learner's probe (a
# generation on A's own model, a task queued on B) would fall inside the next request's time.
# The newcomer pool's work budget is off too: A stays unproven to B, and with the budget on
# (the default since issue 16) B refused every 64-token task from the 10th on once as
# rate_limited, so each request waited ~1.1 s of retry_after on top of the path measured here.
QUIET_TRUST = ("--set", "trust.canary_rate=0", "--set", "trust.probe_interval_s=0", "--set", "trust.cross_check_rate=0",
               "--set", "trust.request_rate=50", "--set", "trust.request_burst=50",
               "--set", "trust.newcomer_work_share=0")
NO_IDLE_LEARNING = ("--set", "router.learn_interval_s=0")


def node_args(*, idle_learning: bool) -> tuple[str, ...]:
    """The daemons' settings: quiet trust always; idle learning off unless asked for (``--idle-learning``
    measures the memory of a node as it runs by default, at the price of probes inside the timings)."""
    return QUIET_TRUST if idle_learning else QUIET_TRUST + NO_IDLE_LEARNING

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Timing:
    latency_ms: float
    completion_tokens: int


@dataclass
class NodeBenchResult:
    model: str
    threads: int
    max_tokens: int
    prompts: int
    idle_learning: bool = False
    direct_ms: list[float] = field(default_factory=list)
    direct_tokens: list[int] = field(default_factory=list)
    network_ms: list[float] = field(default_factory=list)
    network_tokens: list[int] = field(default_factory=list)
    peer_ms: list[float] = field(default_factory=list)
    requester_attempt_ms: list[float] = field(default_factory=list)
    idle_rss_mb: dict[str, float] = field(default_factory=dict)
    heavy_libs_mapped: list[str] = field(default_factory=list)
    rss_after_run_mb: dict[str, float] = field(default_factory=dict)
    heavy_libs_after_run: dict[str, list[str]] = field(default_factory=dict)
    start_to_ad_s: float = 0.0
    model_loaded_to_ad_s: float = 0.0
    loadavg: dict[str, list[float]] = field(default_factory=dict)
    """1/5/15-minute load averages at start and end: the 2 cores are shared with other work."""

    # ------------------------------------------------------------ derived figures
    @property
    def overhead_ms(self) -> list[float]:
        """Per request: what the client waited beyond the peer's own generation time."""
        return [n - p for n, p in zip(self.network_ms, self.peer_ms, strict=True)]

    @property
    def libp2p_overhead_ms(self) -> list[float]:
        """Per request: node A's view (libp2p call) minus B's generation time; excludes HTTP."""
        return [a - p for a, p in zip(self.requester_attempt_ms, self.peer_ms, strict=True)]

    def summary(self) -> dict[str, Any]:
        direct, network = sum(self.direct_ms), sum(self.network_ms)
        over = self.overhead_ms
        return {
            "direct_total_s": round(direct / 1000, 3),
            "network_total_s": round(network / 1000, 3),
            "ratio_network_over_direct": round(network / direct, 4) if direct else None,
            "overhead_pct_vs_direct": round(100 * (network - direct) / direct, 2) if direct else None,
            "overhead_pct_vs_peer_generation": round(100 * sum(over) / sum(self.peer_ms), 2) if self.peer_ms else None,
            "overhead_p50_ms": round(statistics.median(over), 2) if over else None,
            "overhead_p90_ms": round(_quantile(over, 0.9), 2) if over else None,
            "libp2p_overhead_p50_ms": round(statistics.median(self.libp2p_overhead_ms), 2) if self.libp2p_overhead_ms else None,
            "direct_p50_ms": round(statistics.median(self.direct_ms), 1) if self.direct_ms else None,
            "network_p50_ms": round(statistics.median(self.network_ms), 1) if self.network_ms else None,
            "direct_tokens": sum(self.direct_tokens),
            "network_tokens": sum(self.network_tokens),
            "idle_rss_mb": self.idle_rss_mb,
            "heavy_libs_mapped": self.heavy_libs_mapped,
            "rss_after_run_mb": self.rss_after_run_mb,
            "heavy_libs_after_run": self.heavy_libs_after_run,
            "start_to_ad_s": round(self.start_to_ad_s, 3),
            "model_loaded_to_ad_s": round(self.model_loaded_to_ad_s, 3),
            "goals": GOALS,
            "cpus": os.cpu_count(),
            "loadavg": self.loadavg,
        }

    def to_json(self) -> dict[str, Any]:
        return {"config": {"model": self.model, "threads": self.threads, "max_tokens": self.max_tokens,
                           "prompts": self.prompts, "idle_learning": self.idle_learning},
                "summary": self.summary(), "raw": asdict(self)}


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- direct llama.cpp
class DirectModel:
    """The same GGUF file in this process through llama-cpp-python: the no-network baseline."""

    def __init__(self, model_path: Path, *, threads: int, n_ctx: int = 2048) -> None:
        from llama_cpp import Llama

        self._llm: Any = Llama(model_path=str(model_path), n_ctx=n_ctx, n_batch=min(512, n_ctx),
                               n_threads=threads, n_threads_batch=threads, verbose=False)

    def generate(self, prompt: str, max_tokens: int) -> Timing:
        """One greedy chat completion (temperature 0), timed end to end."""
        started = time.perf_counter()
        out = self._llm.create_chat_completion(
            messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0,
        )
        return Timing((time.perf_counter() - started) * 1000, int(out["usage"]["completion_tokens"]))

    def close(self) -> None:
        self._llm = None
        gc.collect()


# ---------------------------------------------------------------- node processes
class _Daemon:
    """One ``peermind node run`` process with JSON logs, found through its node.json."""

    def __init__(self, name: str, data_dir: Path, args: list[str]) -> None:
        self.name = name
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "node.json").unlink(missing_ok=True)
        self.log_path = data_dir / "node.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PEERMIND_")}
        env["HF_HUB_OFFLINE"] = "1"
        self.spawned_at = time.time()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "peermind.node.cli", "node", "run", "--data-dir", str(data_dir),
                 "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--set", "log_format=json", *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )
        self.state: dict[str, Any] = {}

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> _Daemon:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestnetError(f"{self.name} exited with {self.proc.returncode}; log:\n{self._tail()}")
            try:
                state = json.loads((self.data_dir / "node.json").read_text())
            except (OSError, ValueError):
                state = {}
            if state.get("pid") == self.proc.pid:
                self.state = state
                return self
            time.sleep(0.02)
        raise TestnetError(f"{self.name} not ready after {timeout_s:.0f}s; log:\n{self._tail()}")

    def log_event_ts(self, message: str) -> float | None:
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("msg") == message:
                    return float(event["ts"])
        return None

    def _tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _heavy_libs(pid: int) -> list[str]:
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return []
    return sorted({lib for lib in HEAVY_LIBS if lib in maps})


def run_network(result: NodeBenchResult, prompts: Sequence[str], workdir: Path, model_path: Path, *,
                idle_s: float, progress: Progress = lambda _m: None) -> None:
    """2-node testnet: start-up to first ad, idle RSS, then each prompt direct and through A to B.

    Direct and network requests alternate prompt by prompt, so load from other
    processes on a shared machine hits both sides alike; the nodes are idle while the
    direct model runs and this process waits while B generates.
    """
    with two_node_testnet(workdir, result.model, result.threads, idle_learning=result.idle_learning) as (a, b):
        daemons = [a, b]
        with httpx.Client(timeout=300) as http:
            seen_at = _wait_for_ad(http, a.state["api_url"], b)
            loaded = b.log_event_ts("model loaded")
            result.start_to_ad_s = seen_at - b.spawned_at
            result.model_loaded_to_ad_s = seen_at - loaded if loaded else float("nan")
            progress(f"B's ad reached A {result.model_loaded_to_ad_s:.2f} s after B loaded its model")

            time.sleep(idle_s)
            for d in daemons:
                result.idle_rss_mb[d.name] = round(psutil.Process(d.proc.pid).memory_info().rss / 2**20, 1)
            result.heavy_libs_mapped = _heavy_libs(b.proc.pid)
            progress(f"idle RSS {result.idle_rss_mb}")

            peer = b.state["peer_id"]

            def ask(question: str) -> tuple[float, dict[str, Any]]:
                started = time.perf_counter()
                r = http.post(a.state["api_url"] + "/peermind/ask", json={
                    "question": question, "max_tokens": result.max_tokens, "temperature": 0.0,
                    "peer": peer, "timeout_s": 300})
                elapsed = (time.perf_counter() - started) * 1000
                if r.status_code != 200:
                    raise TestnetError(f"node A answered {r.status_code}: {r.text[:300]}")
                return elapsed, r.json()["provenance"]

            direct = DirectModel(model_path, threads=result.threads)
            try:
                direct.generate("Hello.", result.max_tokens)  # warm-ups, not counted
                ask("Hello.")
                for i, prompt in enumerate(prompts):
                    here = direct.generate(prompt, result.max_tokens)
                    result.direct_ms.append(here.latency_ms)
                    result.direct_tokens.append(here.completion_tokens)
                    elapsed, prov = ask(prompt)
                    if prov["answered_by"] != peer:
                        raise TestnetError(f"prompt {i} was answered by {prov['answered_by']}, not B")
                    result.network_ms.append(elapsed)
                    result.network_tokens.append(int(prov["completion_tokens"]))
                    result.requester_attempt_ms.append(float(prov["attempts"][-1]["latency_ms"]))
                    progress(f"{i + 1}/{len(prompts)}: direct {here.latency_ms:.0f} ms, network {elapsed:.0f} ms")
            finally:
                direct.close()
            for d in daemons:
                result.rss_after_run_mb[d.name] = round(psutil.Process(d.proc.pid).memory_info().rss / 2**20, 1)
                result.heavy_libs_after_run[d.name] = _heavy_libs(d.proc.pid)
        result.peer_ms = _served_latencies(b.data_dir / "node.db", len(prompts))


@contextmanager
def two_node_testnet(workdir: Path, model: str, threads: int, *,
                     idle_learning: bool = False) -> Iterator[tuple[_Daemon, _Daemon]]:
    """Node A, then node B bootstrapped to A (one process each, quiet trust); both stopped on exit.

    B is spawned, not waited for: a caller may time how long its ad takes to reach A.
    """
    network = f"bench-{uuid.uuid4().hex[:6]}"
    common = ["--model", model, "--threads", str(threads), "--network", network, *node_args(idle_learning=idle_learning)]
    daemons: list[_Daemon] = []
    try:
        a = _Daemon("A", workdir / "a", common)
        daemons.append(a)
        a.wait_ready()
        b = _Daemon("B", workdir / "b", [*common, "--bootstrap", a.state["addrs"][0]])
        daemons.append(b)
        yield a, b
    finally:
        for d in reversed(daemons):
            d.stop()


def _wait_for_ad(http: httpx.Client, api_url: str, b: _Daemon, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Poll A every 10 ms until it holds B's ad; returns the wall time it was first seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if b.proc.poll() is not None:
            raise TestnetError(f"B exited with {b.proc.returncode}; log:\n{b._tail()}")
        if not b.state:
            try:
                b.state = json.loads((b.data_dir / "node.json").read_text())
            except (OSError, ValueError):
                b.state = {}
        try:
            peers = http.get(api_url + "/peermind/peers").json()["peers"]
        except (httpx.HTTPError, ValueError, KeyError):
            peers = []
        if b.state and any(p["peer_id"] == b.state["peer_id"] for p in peers):
            return time.time()
        time.sleep(0.01)
    raise TestnetError(f"A did not receive B's ad within {timeout_s:.0f}s")


def _served_latencies(db: Path, n: int) -> list[float]:
    """The generation latency B reported for its last ``n`` served tasks, oldest first."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT latency_ms FROM tasks WHERE direction = 'in' ORDER BY id DESC LIMIT ?", (n,)
        ).fetchall()
    finally:
        conn.close()
    if len(rows) != n:
        raise TestnetError(f"B logged {len(rows)} served tasks, expected {n}")
    return [float(r[0]) for r in reversed(rows)]


# ---------------------------------------------------------------- entry point
def run_node_benchmark(*, prompts: int = 20, max_tokens: int = 64, threads: int = 1, model: str = "smollm2",
                       workdir: Path | None = None, idle_s: float = 5.0, idle_learning: bool = False,
                       progress: Progress = lambda _m: None) -> NodeBenchResult:
    from peermind.node.extension import resolve_model

    if not 1 <= prompts <= len(PROMPTS):
        raise TestnetError(f"--prompts must be between 1 and {len(PROMPTS)}")
    profile = resolve_model(model)
    chosen = PROMPTS[:prompts]
    result = NodeBenchResult(model=profile.name, threads=threads, max_tokens=max_tokens, prompts=prompts,
                             idle_learning=idle_learning)
    result.loadavg["start"] = [round(x, 2) for x in os.getloadavg()]
    progress(f"2-node loopback testnet; {prompts} prompts x {max_tokens} tokens, direct and via A -> B")
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="peermind-bench-") as tmp:
            run_network(result, chosen, Path(tmp), profile.path, idle_s=idle_s, progress=progress)
    else:
        run_network(result, chosen, workdir, profile.path, idle_s=idle_s, progress=progress)
    result.loadavg["end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def format_table(result: NodeBenchResult) -> Any:
    """A rich Table of the figures next to their goals."""
    from rich.table import Table

    s = result.summary()
    table = Table(title=f"peermind node benchmark: {result.model}, {result.prompts} prompts x "
                        f"{result.max_tokens} tokens, {result.threads} thread(s)")
    for col in ("measure", "value", "goal"):
        table.add_column(col)

    def ok(value: float | None, goal: float) -> str:
        return "" if value is None else ("met" if value < goal else "MISSED")

    rows = [
        ("direct llama_cpp total", f"{s['direct_total_s']:.2f} s ({s['direct_tokens']} tokens, p50 {s['direct_p50_ms']} ms)", ""),
        ("network path total (A -> B)", f"{s['network_total_s']:.2f} s ({s['network_tokens']} tokens, p50 {s['network_p50_ms']} ms)", ""),
        ("ratio network / direct", f"{s['ratio_network_over_direct']}", ""),
        ("added vs direct", f"{s['overhead_pct_vs_direct']} %", f"< {GOALS['overhead_pct']} % {ok(s['overhead_pct_vs_direct'], GOALS['overhead_pct'])}"),
        ("added vs peer's own generation", f"{s['overhead_pct_vs_peer_generation']} %", f"< {GOALS['overhead_pct']} % {ok(s['overhead_pct_vs_peer_generation'], GOALS['overhead_pct'])}"),
        ("per-request overhead p50 / p90", f"{s['overhead_p50_ms']} / {s['overhead_p90_ms']} ms", f"p50 < {GOALS['overhead_p50_ms']} ms {ok(s['overhead_p50_ms'], GOALS['overhead_p50_ms'])}"),
        ("  of which libp2p call (A's view) p50", f"{s['libp2p_overhead_p50_ms']} ms", ""),
        ("idle RSS (SmolLM2 loaded)", ", ".join(f"{k} {v} MB" for k, v in s["idle_rss_mb"].items()),
         f"< {GOALS['idle_rss_mb']:.0f} MB {ok(max(s['idle_rss_mb'].values(), default=None), GOALS['idle_rss_mb'])}"),
        ("heavy libraries mapped at idle", ", ".join(s["heavy_libs_mapped"]) or "none", ""),
        ("RSS after the run", ", ".join(f"{k} {v} MB ({', '.join(s['heavy_libs_after_run'].get(k, [])) or 'no heavy libs'})"
                                        for k, v in s["rss_after_run_mb"].items()), ""),
        ("start -> first ad seen by peer", f"{s['start_to_ad_s']:.2f} s", ""),
        ("model loaded -> first ad seen", f"{s['model_loaded_to_ad_s']:.2f} s", f"< {GOALS['ad_after_model_s']:.0f} s {ok(s['model_loaded_to_ad_s'], GOALS['ad_after_model_s'])}"),
    ]
    rows.append(("nodes' idle learning", "on" if result.idle_learning else "off", ""))
    rows.append(("machine load (1-min avg, start / end)",
                 f"{s['loadavg'].get('start', ['?'])[0]} / {s['loadavg'].get('end', ['?'])[0]} on {s['cpus']} CPUs", ""))
    for row in rows:
        table.add_row(*row)
    return table
