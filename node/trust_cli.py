"""``peermind peers --trust`` and ``peermind trust explain PEER``: reputation, seen from the CLI.

Kept apart from ``node/trust_wiring`` so the command line never imports libp2p: these
commands only talk to a running node's API (``GET /peermind/trust``...).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .cli_errors import Subcommands
from .json_types import as_list, as_number, as_object

if TYPE_CHECKING:
    from .client import NodeClient

__all__ = ["add_trust_commands", "print_trust_peers"]

_SHORT = {
    "task_ok": "ok", "task_late": "late", "timeout": "timeout", "refusal_busy": "busy",
    "refusal_other": "refused", "protocol_violation": "violation", "answer_right": "canary+",
    "answer_wrong": "canary-", "cross_check_agree": "xcheck+", "cross_check_disagree": "xcheck-",
    "update_ok": "update+", "update_outlier": "update-", "flood": "flood",
    "confidence_miscalibrated": "overconfident",
}
_STYLE = {"trusted": "green", "ok": "cyan", "probation": "white", "do_not_ask": "yellow", "banned": "red"}


def _counts(counts: Mapping[str, object]) -> str:
    return ", ".join(f"{_SHORT.get(k, k)} {n}" for k, n in sorted(counts.items(), key=lambda kv: -as_number(kv[1])))


def _plus(a: object, b: object) -> object:
    """``a + b`` for two JSON numbers (printed as the API gave them), else "?"."""
    return a + b if isinstance(a, int | float) and isinstance(b, int | float) else "?"


def print_trust_peers(data: Mapping[str, object], *, as_json: bool) -> None:
    """The table of ``peermind peers --trust`` (or the raw JSON)."""
    if as_json:
        print(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = as_object(data["thresholds"])
    state = "on" if data["enabled"] else "OFF (scored, not acted on)"
    table = Table(title=f"trust of {str(data['self'])[:16]}… — trust {state}; ask >= {t['ask']}, "
                        f"ban < {t['ban']}, trusted >= {t['trusted']}, newcomer {t['prior']}")
    for col in ("peer", "model", "local", "standing", "global", "evidence", "excluded after"):
        table.add_column(col)
    for p in sorted((as_object(p) for p in as_list(data["peers"])), key=lambda p: -as_number(p["score"])):
        style = _STYLE.get(str(p["standing"]), "white")
        excluded = as_object(p.get("excluded"))
        table.add_row(
            str(p["peer"]), str(p.get("model") or "-"), f"{p['score']:.3f}", f"[{style}]{p['standing']}[/{style}]",
            f"{p['global_trust']:.3f}", _counts(as_object(p["counts"])) or "-",
            f"{excluded['interactions']} records" if excluded else "-",
        )
    Console().print(table)
    if not data["peers"]:
        print("no peers known yet")


def print_explanation(e: Mapping[str, object], *, as_json: bool) -> None:
    """The text of ``peermind trust explain PEER``."""
    if as_json:
        print(json.dumps(e, indent=2))
        return
    t = as_object(e["thresholds"])
    print(f"peer {e['peer']}  ({e.get('model') or 'no fresh ad'})")
    print(f"  local score   {e['score']:.3f}  standing {e['standing']}  "
          f"({'asked' if e['should_ask'] else 'NOT asked'}; routing weight {e['routing_weight']:.2f})")
    if e.get("interactions"):
        print(f"  formula       (α0 + P) / (α0 + β0 + P + N) = ({e['prior_alpha']} + {e['positive_mass']:.2f}) / "
              f"({_plus(e['prior_alpha'], e['prior_beta'])} + {e['positive_mass']:.2f} + {e['negative_mass']:.2f})")
        print(f"  evidence      {e['interactions']} records, first {_ago(e['first_seen'])}, last {_ago(e['last_seen'])}")
    else:
        print(f"  evidence      none: a newcomer scores the prior {t['prior']}")
    print(f"  thresholds    ask >= {t['ask']}, ban < {t['ban']}, trusted >= {t['trusted']}")
    print(f"  global trust  {e['global_trust']:.4f} (EigenTrust share; opinion from it held: {e['opinion_held']})")
    if e.get("banned_until"):
        print(f"  BANNED        until {time.strftime('%H:%M:%S', time.localtime(as_number(e['banned_until'])))} "
              f"(ban #{e.get('ban_count', 1)})")
    if e.get("excluded"):
        x = as_object(e["excluded"])
        print(f"  excluded      first fell to {x['standing']} after {x['interactions']} records, {_ago(x['at'])}")
    a = as_object(e["request_allowance"])
    print(f"  allowance     {a['per_s']} task requests/s, burst {a['burst']}")
    if e.get("calibration_gap") is not None:
        print(f"  calibration   claimed confidence exceeds canary accuracy by {e['calibration_gap']:.2f}")
    if e.get("kinds"):
        print("  by kind       count  +mass   -mass   (weight)")
        weights = as_object(e.get("weights"))
        kinds = {kind: as_object(s) for kind, s in as_object(e["kinds"]).items()}
        for kind, s in sorted(kinds.items(), key=lambda kv: -(as_number(kv[1]["negative_mass"]) + as_number(kv[1]["positive_mass"]))):
            w = weights.get(kind)
            suffix = f"   ({w:+g})" if w is not None else ""
            print(f"    {kind:<26}{s['count']:>5}  {s['positive_mass']:6.2f}  {s['negative_mass']:6.2f}{suffix}")
    if e.get("recent"):
        print("  recent")
        for r in (as_object(r) for r in as_list(e["recent"])[::-1]):
            print(f"    {_ago(r['at']):>10}  {r['kind']:<24} {str(r['detail'])[:90]}")


def _ago(t: object) -> str:
    if not t or not isinstance(t, int | float):
        return "-"
    s = max(0.0, time.time() - t)
    return f"{s:.0f}s ago" if s < 120 else f"{s / 60:.0f}m ago" if s < 7200 else f"{s / 3600:.1f}h ago"


def add_trust_commands(sub: Subcommands,
                       client: Callable[[argparse.Namespace], NodeClient],
                       add_api_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``peermind trust explain PEER`` (and ``trust peers``)."""
    trust = sub.add_parser("trust", help="reputation of peers: why a peer is (not) trusted").add_subparsers(
        dest="trust_cmd", required=True, metavar="SUBCOMMAND")

    def cmd_explain(args: argparse.Namespace) -> int:
        with client(args) as c:
            print_explanation(c.trust_explain(args.peer), as_json=args.json)
        return 0

    def cmd_peers(args: argparse.Namespace) -> int:
        with client(args) as c:
            print_trust_peers(c.trust(), as_json=args.json)
        return 0

    explain = trust.add_parser("explain", help="score, standing, evidence and global trust of one peer")
    add_api_arg(explain)
    explain.add_argument("peer", help="peer ID or a unique prefix of one")
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.set_defaults(func=cmd_explain)
    peers = trust.add_parser("peers", help="same as `peermind peers --trust`")
    add_api_arg(peers)
    peers.add_argument("--json", action="store_true", help="print JSON")
    peers.set_defaults(func=cmd_peers)
