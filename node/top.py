"""``peermind top``: the console's view in a terminal (peers, load, recent tasks, trust).

It polls the node's ``GET /console/state`` (the same JSON the web console starts from)
and redraws a rich ``Live`` layout; polling rather than following ``/events`` keeps it
simple and lets it ride out a node restart. Ctrl-C quits cleanly with exit status 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from rich.console import Console, Group
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .json_types import as_list, as_number, as_object

__all__ = ["build_view", "run_top", "sparkline"]

SPARK = "▁▂▃▄▅▆▇█"
TASK_ROWS = 12
TIER_STYLES = {"device": "cyan", "small": "cyan", "cloud": "magenta", "large": "magenta", "edge": "yellow"}


def sparkline(values: list[float], width: int = 14, lo: float = 0.0, hi: float = 1.0) -> str:
    """Unicode block sparkline of the last ``width`` values scaled to [lo, hi]."""
    tail = [v for v in values if isinstance(v, int | float)][-width:]
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, max(0, int((v - lo) / span * (len(SPARK) - 1) + 0.5)))] for v in tail)


def _short(peer: object, me: object = "") -> str:
    """A peer id shortened for a narrow column ("?" when the status lacks it)."""
    if not isinstance(peer, str) or not peer:
        return "?"
    return "this node" if peer == me else "…" + peer[-6:]


def _num(value: object, fmt: str, default: str = "n/a") -> str:
    """A number formatted, or ``default`` for anything else (the status may lack it)."""
    return format(value, fmt) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _below(trust: Mapping[str, object], ask: float) -> bool:
    score = trust.get("score")
    return (isinstance(score, int | float) and score < ask) or trust.get("standing") in ("do_not_ask", "banned")


def _header(state: Mapping[str, object], api: str, error: str | None) -> Panel:
    node = as_object(state.get("node"))
    model = as_object(node.get("model"))
    queue = as_object(node.get("queue"))
    line = Text()
    line.append("peermind top  ", style="bold cyan")
    line.append(f"node {_short(node.get('peer_id'))}  ", style="bold")
    line.append(f"network {node.get('network', '?')}  ")
    line.append(f"model {model.get('name', '?')} ({_num(model.get('gen_tps'), '.0f')} tok/s)  ")
    line.append(f"queue {queue.get('depth', '?')}/{queue.get('max', '?')}  ")
    line.append(f"uptime {_num(node.get('uptime_s'), '.0f')}s  ", style="dim")
    line.append(f"{api}  {time.strftime('%H:%M:%S')}", style="dim")
    if error:
        line.append(f"\n{error}", style="bold red")
    return Panel(line, padding=(0, 1))


def _peers_table(state: Mapping[str, object]) -> Table:
    topo = as_object(state.get("topology"))
    me = topo.get("self", "")
    ask = as_number(as_object(as_object(state.get("trust")).get("thresholds")).get("ask"), 0.12)
    table = Table(title="peers", title_justify="left", expand=True, header_style="bold")
    for col, justify in (("peer", "left"), ("model", "left"), ("tier", "left"), ("tok/s", "right"), ("queue", "right"),
                         ("load", "right"), ("cost/1k", "right"), ("conn", "left"), ("local", "right"), ("global", "right")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for n in as_list(topo.get("nodes")):
        n = as_object(n)
        trust = as_object(n.get("trust"))
        below = _below(trust, ask)
        tier = str(n.get("tier", "?"))
        table.add_row(
            Text(_short(n.get("peer_id"), me), style="bold" if n.get("self") else ("bold red" if below else "")),
            str(n.get("model", "?")),
            Text(tier, style=TIER_STYLES.get(tier, "")),
            _num(n.get("gen_tps"), ".0f"),
            f"{n.get('queue_depth', '?')}/{n.get('max_queue', '?')}",
            _num(n.get("load"), ".2f"),
            _num(n.get("cost_per_1k"), ".3f"),
            "self" if n.get("self") else ("live" if n.get("connected") else "ad only"),
            "–" if n.get("self") else Text(_num(trust.get("score"), ".2f"), style="red" if below else ""),
            "–" if n.get("self") else _num(trust.get("global"), ".3f"),
        )
    return table


def _tasks_table(state: Mapping[str, object]) -> Table:
    me = as_object(state.get("topology")).get("self", "")
    table = Table(title="recent tasks", title_justify="left", expand=True, header_style="bold")
    for col, justify in (("time", "left"), ("dir", "left"), ("mode", "left"), ("answered by", "left"), ("model", "left"),
                         ("conf", "right"), ("latency", "right"), ("cost", "right"), ("", "left")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    rows: list[tuple[float, list[str | Text]]] = []
    for entry in as_list(state.get("answers")):
        e = as_object(entry)
        p = as_object(e.get("provenance"))
        ok = e.get("status") == "ok"
        rows.append((as_number(e.get("at")), [
            "out", str(p.get("mode", e.get("mode", ""))),
            _short(p.get("answered_by"), me) if ok else Text("error", style="red"),
            str(p.get("model", "")), _num(p.get("confidence"), ".2f", "–"),
            _num(p.get("latency_ms", e.get("latency_ms")), ".0f", "–") + " ms", _num(p.get("cost"), ".4f", "–"),
            Text("escalated", style="yellow") if p.get("escalated") else "",
        ]))
    for task in as_list(state.get("tasks")):
        t = as_object(task)
        if t.get("direction") != "in":
            continue  # this node's own asks are listed (whole) from answers above
        ok = t.get("status") == "ok"
        rows.append((as_number(t.get("created_at")), [
            "in", "serve", "this node" if ok else Text(str(t.get("status")), style="red"), str(t.get("model") or ""),
            _num(t.get("confidence"), ".2f", "–"), _num(t.get("latency_ms"), ".0f", "–") + " ms", "–",
            f"for {_short(t.get('peer'), me)}",
        ]))
    rows.sort(key=lambda r: r[0], reverse=True)
    for at, cells in rows[:TASK_ROWS]:
        table.add_row(time.strftime("%H:%M:%S", time.localtime(at)), *cells)
    if not rows:
        table.add_row("", "", "", Text("no tasks yet", style="dim"), "", "", "", "", "")
    return table


def _trust_table(state: Mapping[str, object]) -> Table:
    trust = as_object(state.get("trust"))
    me = as_object(state.get("topology")).get("self", "")
    thresholds = as_object(trust.get("thresholds"))
    ask = as_number(thresholds.get("ask"), 0.12)
    table = Table(title=f"trust (ask threshold {ask})", title_justify="left", expand=True, header_style="bold")
    for col, justify in (("peer", "left"), ("score", "right"), ("standing", "left"), ("evidence", "right"), ("trend", "left")):
        table.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    peers = as_object(trust.get("peers"))
    ordered = sorted(peers.items(), key=lambda kv: (not _below(as_object(kv[1]), ask), as_number(as_object(kv[1]).get("score"))))
    for peer, t in ordered:
        t = as_object(t)
        below = _below(t, ask)
        ev = as_object(t.get("evidence"))
        history = [h[1] for h in as_list(t.get("history")) if isinstance(h, list) and len(h) == 2]
        style = "bold red" if below else ""
        table.add_row(
            Text(_short(peer, me), style=style), Text(_num(t.get("score"), ".2f"), style=style),
            Text(str(t.get("standing") or "?"), style=style),
            f"{ev.get('total', 0)} (+{ev.get('positive', 0)}/−{ev.get('negative', 0)})",
            Text(sparkline(history), style="red" if below else "green"),
        )
    if not peers:
        table.add_row(Text("no evidence yet", style="dim"), "", "", "", "")
    return table


def _training_text(state: Mapping[str, object]) -> Text:
    rounds = as_list(as_object(state.get("training")).get("rounds"))
    if not rounds:
        return Text("training: no federated rounds recorded yet", style="dim")
    last = as_object(rounds[0])
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in as_object(last.get("metrics")).items() if isinstance(v, int | float))
    return Text(
        f"training: {len(rounds)} rounds; last {last.get('run_id', '?')}#{last.get('round', '?')} "
        f"({len(as_list(last.get('participants')))} participants, {len(as_list(last.get('excluded')))} excluded, "
        f"{'adopted' if last.get('adopted') else 'not adopted'}) {metrics}"
    )


def build_view(state: Mapping[str, object], *, api: str = "", error: str | None = None) -> Layout:
    """The whole screen for one state snapshot (pure: no I/O, easy to test)."""
    layout = Layout()
    layout.split_column(Layout(_header(state, api, error), name="header", size=4 if error else 3), Layout(name="body"))
    layout["body"].split_row(Layout(name="left", ratio=3), Layout(name="right", ratio=2))
    layout["left"].split_column(Layout(_peers_table(state), name="peers"), Layout(_tasks_table(state), name="tasks"))
    layout["right"].update(Group(_trust_table(state), Text(""), _training_text(state)))
    return layout


def run_top(
    fetch: Callable[[], Mapping[str, object]],
    *,
    api: str,
    interval_s: float = 1.0,
    once: bool = False,
    console: Console | None = None,
) -> int:
    """Redraw every ``interval_s`` until Ctrl-C (exit 0); ``once`` prints one frame and returns."""
    console = console or Console()
    state: Mapping[str, object] = {}
    error: str | None = None

    def refresh() -> None:
        nonlocal state, error
        try:
            state, error = fetch(), None
        except Exception as exc:  # keep showing the last view; the node may be restarting
            error = f"cannot read {api}: {exc}"

    if once:
        refresh()
        console.print(build_view(state, api=api, error=error), height=max(console.height, 30))
        return 1 if error and not state else 0
    try:
        refresh()
        with Live(build_view(state, api=api, error=error), console=console, screen=True, auto_refresh=False) as live:
            while True:
                time.sleep(interval_s)
                refresh()
                live.update(build_view(state, api=api, error=error), refresh=True)
    except KeyboardInterrupt:
        return 0
