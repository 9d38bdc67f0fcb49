"""The node's one typed configuration, built once and passed down everywhere.

Layers, later wins: defaults < TOML file < environment (``PEERMIND_*``) < CLI
flags. Every value is converted and validated where it enters, so a bad value
fails with a :class:`ConfigError` naming its source (``file + key``,
environment variable, or flag) instead of surfacing later deep in the daemon.

The dataclasses are the single source of truth: each field carries its help
text and its check in ``metadata``, from which :func:`describe_fields`,
:func:`config_to_toml` and the environment names are derived.

Environment variables
    ``PEERMIND_<KEY>`` for every top-level key (``PEERMIND_DATA_DIR``,
    ``PEERMIND_LISTEN`` (comma-separated), ``PEERMIND_API_TOKEN``, ...),
    ``PEERMIND_<SECTION>__<KEY>`` for section keys
    (``PEERMIND_LIMITS__CLOCK_SKEW_S``), the shortcuts ``PEERMIND_MODEL``
    (``llm.model``) and ``PEERMIND_THREADS`` (``llm.n_threads``), and
    ``PEERMIND_CONFIG`` (the file, when none is given). An unknown
    ``PEERMIND_X__Y`` is an error; other unknown ``PEERMIND_*`` names are
    ignored (they may belong to other tools, e.g. the testnet).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from multiaddr import Multiaddr

from .errors import ConfigError

__all__ = [
    "AdConfig",
    "FieldInfo",
    "LLMConfig",
    "LimitConfig",
    "NodeConfig",
    "RelayConfig",
    "TrainingConfig",
    "TrustConfig",
    "config_to_toml",
    "default_data_dir",
    "describe_fields",
    "env_var_name",
    "load_config",
]

_ENV_PREFIX = "PEERMIND_"
_ENV_CONFIG_FILE = "PEERMIND_CONFIG"
_ENV_SHORTCUTS = {"PEERMIND_MODEL": "llm.model", "PEERMIND_THREADS": "llm.n_threads"}
_SECRET_KEYS = frozenset({"api_token", "network_secret"})
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_MiB = 1024 * 1024


# --- checks: each returns None if fine, else the reason -----------------------

Check = Callable[[Any], "str | None"]


def _at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be >= {low}"


def _between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _matches(pattern: str, what: str) -> Check:
    rx = re.compile(pattern)

    def check(v: str) -> str | None:
        return None if rx.fullmatch(v) else f"must be {what}"

    return check


def _each(check: Check) -> Check:
    def check_all(values: tuple[Any, ...]) -> str | None:
        for v in values:
            if (reason := check(v)) is not None:
                return f"entry {v!r} {reason}"
        return None

    return check_all


def _optional(check: Check) -> Check:
    return lambda v: None if v is None else check(v)


def _check_multiaddr(value: str, *, need_peer_id: bool) -> str | None:
    try:
        addr = Multiaddr(value)
    except Exception as exc:  # multiaddr raises a zoo of ValueError subclasses
        return f"is not a valid multiaddr ({exc})"
    names = [p.name for p in addr.protocols()]
    if need_peer_id and (not names or names[-1] != "p2p"):
        return "must end with /p2p/<peer id>, e.g. /ip4/10.0.0.5/tcp/4001/p2p/12D3KooW..."
    if not need_peer_id and "p2p" in names:
        return "is a listen address and must not contain /p2p/<peer id>"
    return None


def _listen_addr(v: str) -> str | None:
    return _check_multiaddr(v, need_peer_id=False)


def _bootstrap_addr(v: str) -> str | None:
    return _check_multiaddr(v, need_peer_id=True)


def _peer_id(v: str) -> str | None:
    # A /p2p/ component is validated as a peer-ID CID by multiaddr: reuse it
    # rather than importing libp2p (2-3 s) just to read a config file.
    if not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{32,128}", v):
        return "must be a base58 peer ID like 12D3KooW..."
    try:
        Multiaddr(f"/p2p/{v}")
    except Exception:
        return "must be a base58 peer ID like 12D3KooW..."
    return None


def _host_port(v: str) -> str | None:
    try:
        _split_host_port(v)
    except ValueError as exc:
        return str(exc)
    return None


def _split_host_port(value: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError("must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 host must be in brackets, e.g. [::1]:8080")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("port must be a number between 0 and 65535")
    if not host or any(c.isspace() for c in host):
        raise ValueError("host must not be empty or contain spaces")
    return host, int(port_text)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _admission_text(v: str) -> str | None:
    from peermind.trust import TrustError, admission_from_text

    try:
        admission_from_text(v)
    except TrustError as exc:
        return str(exc)
    return None


def _token(v: str) -> str | None:
    if not v or any(c.isspace() or not c.isprintable() for c in v):
        return "must be non-empty printable text without spaces (it goes in an HTTP header)"
    return None


def _model(v: str) -> str | None:
    if _looks_like_path(v):
        return None if v.lower().endswith(".gguf") else "a model file must be a .gguf file"
    return _PROFILE_NAME(v)


_PROFILE_NAME = _matches(
    r"[a-z0-9][a-z0-9._-]{0,63}", "a profile name (e.g. smollm2) or a path to a .gguf file"
)


def _looks_like_path(v: str) -> bool:
    return v.lower().endswith(".gguf") or "/" in v or os.sep in v or v.startswith(("~", "."))


def _finite(v: float) -> str | None:
    return None if math.isfinite(v) else "must be a finite number"


def _all(*checks: Check) -> Check:
    def check(v: Any) -> str | None:
        for c in checks:
            if (reason := c(v)) is not None:
                return reason
        return None

    return check


_TAG = _matches(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}", "1-64 letters, digits or ._:+- (no commas)")


def _setting(default: Any, help: str, check: Check | None = None, **kw: Any) -> Any:
    """A dataclass field carrying its help text and validity check."""
    meta = {"help": help, "check": check}
    if callable(default):  # a factory (data_dir) or a nested config section
        return field(default_factory=default, metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/peermind``, else ``~/.local/share/peermind`` (XDG base dirs)."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):  # the spec says relative values are ignored
        return Path(xdg) / "peermind"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "peermind"


# --- the config dataclasses ----------------------------------------------------


class _Validated:
    """Runs every field's check on construction, so hand-built configs are safe too."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            check = f.metadata.get("check")
            value = getattr(self, f.name)
            if check is not None and (reason := check(value)) is not None:
                raise ConfigError(f"invalid {f.name}={_show(f.name, value)}: {reason}")
        problems = _cross_field_problems(_flatten(self))
        if problems:
            raise ConfigError(problems[0][1])


@dataclass(frozen=True)
class LLMConfig(_Validated):
    """The local model this node serves."""

    model: str = _setting(
        "smollm2", "model profile name (smollm2, gemma3-270m, ...) or path to a .gguf file", _model
    )
    n_threads: int = _setting(2, "CPU threads llama.cpp may use", _at_least(1))
    n_ctx: int = _setting(2048, "context window in tokens (prompt + completion)", _at_least(64))
    max_concurrency: int = _setting(
        1, "generations run at the same time (each needs its own context)", _at_least(1)
    )
    max_queue: int = _setting(
        8, "requests allowed to wait for a slot before new ones are refused", _at_least(0)
    )


@dataclass(frozen=True)
class AdConfig(_Validated):
    """What this node advertises to the network about itself."""

    cost_per_1k: float | None = _setting(
        None,
        "advertised price per 1000 tokens (unset: the model profile's default)",
        _optional(_all(_finite, _at_least(0.0))),
    )
    tags: tuple[str, ...] = _setting((), "free-form capability tags to advertise", _each(_TAG))
    skills: tuple[str, ...] = _setting(
        (), "skills to advertise (e.g. code, math, summarise)", _each(_TAG)
    )
    ttl_s: int = _setting(60, "seconds an ad stays valid after it is signed", _at_least(1))
    republish_s: float = _setting(
        20.0, "seconds between ad refreshes; must be shorter than ttl_s", _all(_finite, _positive)
    )
    announce: tuple[str, ...] = _setting(
        (),
        "addresses to advertise instead of the listen ones, without /p2p/ (port forwarding, or a "
        "proxy in front of the node such as the testnet's emulated links); empty: the listen addresses",
        _each(_listen_addr),
    )


@dataclass(frozen=True)
class LimitConfig(_Validated):
    """Hard caps that protect the node from oversized or stale input."""

    max_frame_bytes: int = _setting(
        4 * _MiB, "largest wire frame accepted or sent, in bytes", _between(1024, 64 * _MiB)
    )
    max_prompt_chars: int = _setting(32768, "longest prompt accepted, in characters", _at_least(1))
    max_tokens: int = _setting(1024, "most tokens a single completion may generate", _at_least(1))
    clock_skew_s: float = _setting(
        30.0,
        "how far a message timestamp may be from our clock, in seconds",
        _all(_finite, _at_least(0.0)),
    )
    request_timeout_s: float = _setting(
        120.0,
        "deadline for a remote task (negotiation + generation), in seconds",
        _all(_finite, _positive),
    )
    shutdown_grace_s: float = _setting(
        10.0, "seconds running tasks get to finish on shutdown", _all(_finite, _at_least(0.0))
    )


@dataclass(frozen=True)
class TrustConfig(_Validated):
    """How much this node checks and believes other peers."""

    enabled: bool = _setting(
        True,
        "act on reputation: exclude, refuse, rate-limit and verify peers "
        "(false: evidence is still scored, but never acted on)",
    )
    canary_rate: float = _setting(
        0.05,
        "chance per answered question of also sending one peer a known-answer check (canary)",
        _between(0.0, 1.0),
    )
    canary_datasets: tuple[str, ...] = _setting(
        ("arc_easy",),
        "benchmark datasets whose validation split supplies canaries (multiple choice only)",
        _each(_matches(r"[a-z0-9_]{1,32}", "a dataset name such as arc_easy")),
    )
    canary_wrong_weight: float = _setting(
        -2.0,
        "evidence weight of a failed canary recorded without the sequential test (evidence "
        "rows from before it); canaries are now weighed against the peer's own model",
        _between(-20.0, 0.0),
    )
    canary_right_weight: float = _setting(
        1.0, "evidence weight of a passed canary recorded without the sequential test",
        _between(0.0, 20.0),
    )
    newcomer_weight: float = _setting(
        0.9,
        "routing weight (probability-like 'answers honestly') of a peer with no evidence yet; "
        "it multiplies the peer's predicted P(correct). 1 for trusted peers, 0 when excluded",
        _between(0.0, 1.0),
    )
    cross_check_rate: float = _setting(
        0.05,
        "chance per peer-answered question of re-asking a second peer (a third source decides)",
        _between(0.0, 1.0),
    )
    probe_interval_s: float = _setting(
        10.0,
        "while idle, send one canary every probe_interval_s seconds to a peer not yet trusted "
        "(newcomers earn routing weight without user questions at stake; 0 = off)",
        _between(0.0, 86400.0),
    )
    ask_threshold: float = _setting(
        0.12, "peers whose local score falls below this get no work (do-not-ask)", _between(0.0, 1.0)
    )
    ban_threshold: float = _setting(
        0.06,
        "peers falling below this are disconnected and refused for ban_cooldown_s",
        _between(0.0, 1.0),
    )
    trusted_threshold: float = _setting(
        0.7, "score from which a peer counts as trusted (full routing weight)", _between(0.0, 1.0)
    )
    half_life_s: float = _setting(
        259200.0, "evidence loses half its weight every half_life_s seconds", _all(_finite, _positive)
    )
    ban_cooldown_s: float = _setting(
        3600.0, "first ban length in seconds; each repeat doubles it (max 7 days)",
        _between(1.0, 604800.0),
    )
    request_rate: float = _setting(
        2.0,
        "task requests per second a trusted peer may send (newcomers a quarter); over: "
        "refusal rate_limited",
        _all(_finite, _positive),
    )
    request_burst: float = _setting(
        10.0, "task requests a trusted peer may send at once", _at_least(1.0)
    )
    work_rate: float = _setting(
        100.0,
        "work a trusted peer may have this node do, in prompt + generated tokens per second "
        "(newcomers a quarter, less for a peer that ignores retry_after); over: refusal "
        "rate_limited. Counts tokens, not requests, so long generations cost what they take",
        _all(_finite, _positive),
    )
    work_burst: float = _setting(
        1200.0,
        "tokens of work a trusted peer may ask for at once (a task bigger than a peer's whole "
        "burst runs only on a full bucket)",
        _at_least(1.0),
    )
    newcomer_work_share: float = _setting(
        0.1,
        "share of this node's model time that all unproven peers together may use while anyone else "
        "wants it, however many identities they are (one newcomer pool): each task is charged its "
        "prompt at prompt speed plus max_tokens at generation speed, settled to what it used; over: "
        "refusal rate_limited with retry_after. Holds only while the model is contended (a question "
        "of this node's user in flight, or one or a proven peer's task in the last 30 s; background "
        "work such as idle learning does not count): idle model time is free to unproven peers, so a fresh network, whose peers are "
        "all unproven to each other for minutes, works at full speed. 0 = no work budget",
        _between(0.0, 1.0),
    )
    conduct_tolerance: float = _setting(
        4.0,
        "requests sent while told to wait (retry_after) that halve a peer's request and work "
        "allowance, however well it answers (forgiven with a 10-minute half-life)",
        _all(_finite, _positive),
    )
    opinion_interval_s: float = _setting(
        30.0, "seconds between this node's published trust opinions (global trust)",
        _between(1.0, 86400.0),
    )
    pow_difficulty_bits: int = _setting(
        8,
        "network setting, the price of an identity: leading zero bits of sha256 a peer's ad must "
        "prove for its peer ID before its ads, gossip or work requests are accepted (every node "
        "of a network must use the same value; each bit doubles the cost: ~2**bits hashes once "
        "per identity, see `peermind bench identity`; 0 = free)",
        _between(0, 32),
    )
    pre_trusted: tuple[str, ...] = _setting(
        (), "peer IDs trusted from the start (anchor global trust)", _each(_peer_id)
    )


@dataclass(frozen=True)
class TrainingConfig(_Validated):
    """Federated router training (``peermind train``); the on/off switch is ``join_training``."""

    adopt_tolerance: float = _setting(
        0.005,
        "a new global router is adopted unless its log loss on this node's validation rows "
        "is worse than the current router's by more than this",
        _all(_finite, _at_least(0.0)),
    )
    validation_fraction: float = _setting(
        0.2, "share of local feedback queries (by query id) kept for validation", _between(0.05, 0.9)
    )
    max_frame_bytes: int = _setting(
        9 * _MiB,
        "largest frame on the training protocol (Flower payloads reach 8 MiB)",
        _between(1024 * 1024, 64 * _MiB),
    )
    dp_epsilon: float | None = _setting(
        None,
        "local differential privacy: when a run clips updates, add Gaussian noise for this "
        "epsilon (unset: no noise)",
        _optional(_all(_finite, _positive)),
    )
    dp_delta: float = _setting(1e-5, "local differential privacy delta", _between(1e-12, 0.5))


@dataclass(frozen=True)
class RouterConfig(_Validated):
    """How the router learns from idle time (labelled rows without a user's question)."""

    learn_interval_s: float = _setting(
        20.0,
        "while idle, every learn_interval_s seconds put one validation question with a known answer "
        "to one peer of each model (and this node's own model) and keep the outcomes as labelled "
        "router rows (0 = off)",
        _between(0.0, 86400.0),
    )
    learn_datasets: tuple[str, ...] = _setting(
        ("arc_easy", "arc_challenge", "sciq", "csqa"),
        "benchmark datasets whose validation split the idle learner draws from (multiple choice only)",
        _each(_matches(r"[a-z0-9_]{1,32}", "a dataset name such as arc_easy")),
    )
    learn_max_rows: int = _setting(
        300,
        "idle learning stops asking a model once this node holds this many labelled rows of it",
        _at_least(0),
    )
    cheap_margin: float = _setting(
        0.02,
        "route/auto: the cheaper model answers wherever the labelled evidence puts its accuracy for "
        "this kind of question within this many points (0-1) of the best model's, the dearer one "
        "elsewhere (used unless a request's cost_weight or a `router seed` calibration sets lambda); "
        "0.02 was chosen on validation splits, larger values save cost at about a random mix's "
        "accuracy (docs/results/collab-margin-validation.md)",
        _between(0.0, 1.0),
    )


@dataclass(frozen=True)
class KnowledgeConfig(_Validated):
    """A local corpus that never leaves the node (``--docs``, ``peermind docs``): retrieval and its ad summary."""

    docs: Path | None = _setting(
        None, "folder of .txt/.md documents indexed (incrementally) at start; also `node run --docs DIR`"
    )
    chunk_chars: int = _setting(800, "characters per chunk (MiniLM reads about 1,000)", _between(100, 4000))
    max_corpus_bytes: int = _setting(
        32 * _MiB, "indexing stops with an error before the corpus would exceed this many bytes", _at_least(1)
    )
    max_chunks: int = _setting(20_000, "indexing stops with an error beyond this many chunks", _at_least(1))
    top_k: int = _setting(3, "passages put into the prompt of each task this node serves", _between(1, 8))
    min_similarity: float = _setting(
        0.25, "a passage goes into the prompt only when its cosine similarity reaches this", _between(-1.0, 1.0)
    )
    share_passages: bool = _setting(
        False, "send passage text to peers that ask for evidence (consult); off: answers and citations only"
    )
    passage_chars: int = _setting(400, "longest passage shared with a peer, in bytes", _between(32, 1024))
    summary_centroids: int = _setting(
        4, "cluster centroids of chunk embeddings in the ad's knowledge summary (0: advertise none)", _between(0, 8)
    )
    summary_noise: float = _setting(
        0.0, "standard deviation of Gaussian noise added to the summary's centroids and counts", _between(0.0, 1.0)
    )
    topics: tuple[str, ...] = _setting((), "topic tags declared in the knowledge summary", _each(_TAG))
    match_weight: float = _setting(
        1.0,
        "routing: prior utility weight of a question's match with a peer's knowledge summary "
        "(labelled answers of matching peers move it per question)",
        _between(0.0, 10.0),
    )


@dataclass(frozen=True)
class RelayConfig(_Validated):
    """NAT traversal: relaying for others (``--relay``) and being reached through a relay (``--relay-via``)."""

    serve: bool = _setting(
        False,
        "offer circuit relay v2 (hop) service: peers that cannot be dialled directly reserve a slot here "
        "and others reach them through this node, within the limits below; also `node run --relay`",
    )
    via: tuple[str, ...] = _setting(
        (),
        "relays to reserve a slot on, full multiaddrs ending in /p2p/<relay id>, used while this node is not "
        "directly dialable (see reachability): it then advertises only its /p2p-circuit addresses; "
        "`node run --relay-via MADDR` also sets reachability = private",
        _each(_bootstrap_addr),
    )
    reachability: Literal["auto", "private", "public"] = _setting(
        "auto",
        "auto: ask connected peers (AutoNAT) whether they can dial this node back at its listen address and "
        "use the relays in `via` when most cannot; private: always use them (e.g. behind a firewall that "
        "AutoNAT cannot see); public: never",
        lambda v: None if v in ("auto", "private", "public") else "must be auto, private or public",
    )
    autonat_interval_s: float = _setting(
        60.0, "seconds between AutoNAT checks when reachability = auto", _all(_finite, _between(1.0, 86400.0))
    )
    max_reservations: int = _setting(16, "relay service: peers that may hold a reservation at once", _between(1, 1024))
    max_circuits: int = _setting(
        8, "relay service: relayed connections open at once to each reserved peer", _between(1, 256)
    )
    max_circuit_duration_s: int = _setting(
        600, "relay service: a relayed connection is cut after this many seconds (0 = no limit)", _between(0, 86400)
    )
    max_circuit_bytes: int = _setting(
        64 * _MiB, "relay service: a relayed connection is cut after this many bytes, both ways (0 = no limit)",
        _at_least(0),
    )
    upgrade_interval_s: float = _setting(
        5.0, "seconds between attempts to replace a relayed connection by a direct one (DCUtR hole punching)",
        _all(_finite, _between(0.5, 3600.0)),
    )


@dataclass(frozen=True)
class NodeConfig(_Validated):
    """Everything a node needs to know; built by :func:`load_config`."""

    data_dir: Path = _setting(
        default_data_dir, "directory for the identity key, node.db and caches"
    )
    network: str = _setting(
        "peermind",
        "network name; namespaces topics, DHT keys and ads (nodes only see their network)",
        _matches(r"[a-z0-9-]{1,32}", "1-32 characters of a-z, 0-9 and -"),
    )
    listen: tuple[str, ...] = _setting(
        ("/ip4/0.0.0.0/tcp/4001",),
        "multiaddrs to listen on (port 0 picks a free port)",
        _all(lambda v: None if v else "needs at least one address", _each(_listen_addr)),
    )
    network_secret: str | None = _setting(
        None,
        "makes the network private: only nodes holding this secret get work, ads or opinions "
        "accepted (their ads carry an HMAC proof bound to their peer ID; the secret never "
        "travels). Set it with PEERMIND_NETWORK_SECRET or the config file; `peermind invite` "
        "puts it in the token",
        _optional(_token),
    )
    network_admitters: tuple[str, ...] = _setting(
        (),
        "network setting that makes the network private by admission: peer IDs of its admitting "
        "peers; only they and nodes whose ad carries an unexpired admission one of them signed "
        "(network_admission) get work, ads or opinions accepted (every node of the network lists "
        "the same peers)",
        _each(_peer_id),
    )
    network_admission: str | None = _setting(
        None,
        "this node's admission to a network with admitting peers: the pma1. text an admitting peer "
        "printed with `peermind admit <this node's peer id>` (bound to this peer ID; no secret)",
        _optional(_admission_text),
    )
    bootstrap: tuple[str, ...] = _setting(
        (),
        "peers to connect to at start: full multiaddrs ending in /p2p/<peer id>",
        _each(_bootstrap_addr),
    )
    api: str = _setting(
        "127.0.0.1:8080", "host:port of the local HTTP API (port 0 picks a free port)", _host_port
    )
    api_token: str | None = _setting(
        None,
        "bearer token for the HTTP API; required when the API host is not loopback",
        _optional(_token),
    )
    mdns: bool = _setting(False, "discover peers on the local network with mDNS")
    dht: bool = _setting(True, "join the Kademlia DHT for discovery")
    join_training: bool = _setting(True, "take part in federated router training rounds")
    log_level: str = _setting(
        "info",
        "log level: " + ", ".join(_LOG_LEVELS),
        lambda v: None if v in _LOG_LEVELS else "must be one of " + ", ".join(_LOG_LEVELS),
    )
    log_format: Literal["json", "text"] = _setting(
        "text",
        "log format: text (for people) or json (for log collectors)",
        lambda v: None if v in ("json", "text") else "must be json or text",
    )
    llm: LLMConfig = _setting(LLMConfig, "[llm] the local model")
    ads: AdConfig = _setting(AdConfig, "[ads] this node's capability ad")
    limits: LimitConfig = _setting(LimitConfig, "[limits] input caps and timeouts")
    trust: TrustConfig = _setting(TrustConfig, "[trust] peer checks and reputation")
    training: TrainingConfig = _setting(TrainingConfig, "[training] federated router training")
    router: RouterConfig = _setting(RouterConfig, "[router] learning from idle time")
    knowledge: KnowledgeConfig = _setting(KnowledgeConfig, "[knowledge] a local corpus: retrieval and its summary")
    relay: RelayConfig = _setting(RelayConfig, "[relay] NAT traversal: relay service, reservations, hole punching")


_SECTIONS: dict[str, type[_Validated]] = {
    "llm": LLMConfig,
    "ads": AdConfig,
    "limits": LimitConfig,
    "trust": TrustConfig,
    "training": TrainingConfig,
    "router": RouterConfig,
    "knowledge": KnowledgeConfig,
    "relay": RelayConfig,
}


def _cross_field_problems(flat: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Rules that involve two settings: (keys involved, message) for each broken one."""
    problems: list[tuple[tuple[str, ...], str]] = []
    if "api" in flat and "api_token" in flat:
        host, _ = _split_host_port(flat["api"])
        if not _is_loopback(host) and not flat["api_token"]:
            problems.append(
                (
                    ("api", "api_token"),
                    f"api={flat['api']!r} listens beyond this machine, so api_token is required "
                    "(set PEERMIND_API_TOKEN or api_token in the config file)",
                )
            )
    ttl, every = flat.get("ads.ttl_s"), flat.get("ads.republish_s")
    if ttl is not None and every is not None and every >= ttl:
        problems.append(
            (
                ("ads.republish_s", "ads.ttl_s"),
                f"ads.republish_s={every} must be shorter than ads.ttl_s={ttl}, "
                "or ads expire before they are refreshed",
            )
        )
    ban, ask, trusted = (flat.get(f"trust.{k}_threshold") for k in ("ban", "ask", "trusted"))
    if ban is not None and ask is not None and trusted is not None and not 0 < ban <= ask < 0.3 < trusted < 1:
        problems.append(
            (
                ("trust.ban_threshold", "trust.ask_threshold", "trust.trusted_threshold"),
                f"trust thresholds must satisfy 0 < ban ({ban}) <= ask ({ask}) < 0.3 (a "
                f"newcomer's score) < trusted ({trusted}) < 1",
            )
        )
    return problems


# --- field introspection ---------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    key: str  # dotted
    hint: Any
    field: dataclasses.Field[Any]


def _field_specs(cls: type = NodeConfig, prefix: str = "") -> Iterator[_Spec]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and issubclass(hint, _Validated):
            yield from _field_specs(hint, f"{prefix}{f.name}.")
        else:
            yield _Spec(prefix + f.name, hint, f)


_SPECS: dict[str, _Spec] = {s.key: s for s in _field_specs()}


def _flatten(obj: Any, prefix: str | None = None) -> dict[str, Any]:
    if prefix is None:
        prefix = next((f"{k}." for k, c in _SECTIONS.items() if isinstance(obj, c)), "")
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, _Validated):
            flat.update(_flatten(value, f"{prefix}{f.name}."))
        else:
            flat[prefix + f.name] = value
    return flat


def env_var_name(key: str) -> str:
    """The environment variable for a dotted key (``limits.clock_skew_s`` -> ``PEERMIND_LIMITS__CLOCK_SKEW_S``)."""
    return _ENV_PREFIX + key.upper().replace(".", "__")


class FieldInfo(NamedTuple):
    """One setting as the CLI explains it."""

    key: str
    type: str
    default: str
    help: str


def describe_fields() -> list[FieldInfo]:
    """Every setting as (dotted key, type, default, one-line help), in file order."""
    out = []
    for spec in _SPECS.values():
        if spec.key == "data_dir":
            default = "$XDG_DATA_HOME/peermind or ~/.local/share/peermind"
        else:
            default = _toml_value(spec.field.default) if spec.field.default is not None else "unset"
        out.append(FieldInfo(spec.key, _type_name(spec.hint), default, spec.field.metadata["help"]))
    return out


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(_type_name(a) for a in args)
    if origin is tuple:
        return f"list[{_type_name(args[0])}]"
    if hint is type(None):
        return "None"
    return "path" if hint is Path else hint.__name__


# --- conversion of raw values -------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    label: str  # e.g. "config file /x/peermind.toml, key 'llm.model'"
    text: bool  # value is a string to parse (env var), not a typed TOML/Python value
    base_dir: Path  # relative paths are resolved against this


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _convert(value: Any, hint: Any, src: _Source) -> Any:
    """Turn a raw value into ``hint``'s type; ValueError(reason) when impossible."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # only "X | None" is used
        inner = next(a for a in args if a is not type(None))
        if value is None or (isinstance(value, str) and src.text and value.strip() == ""):
            return None
        return _convert(value, inner, src)
    if isinstance(value, str) and src.text:
        value = value.strip()
    if origin is Literal:
        if isinstance(value, str) and value.lower() in args:
            return value.lower()
        raise ValueError("must be one of " + ", ".join(repr(a) for a in args))
    if origin is tuple:
        if isinstance(value, str) and src.text:  # env var / flag: comma-separated
            items: list[Any] = [p.strip() for p in value.split(",") if p.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise ValueError('must be a list of strings, e.g. ["a", "b"]')
        if not all(isinstance(i, str) for i in items):
            raise ValueError("must be a list of strings")
        return tuple(items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and src.text and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError("must be true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and src.text:
            try:
                return int(value, 10)
            except ValueError:
                pass
        raise ValueError("must be a whole number")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and src.text:
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError("must be a number")
    if hint is Path:
        if not isinstance(value, str | os.PathLike) or not str(value).strip():
            raise ValueError("must be a non-empty path")
        return _absolute(str(value), src.base_dir)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value
    raise TypeError(f"unsupported setting type {hint!r}")  # programming error


def _absolute(text: str, base_dir: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base_dir / path


def _normalise(key: str, value: Any, src: _Source) -> Any:
    """Per-key clean-ups that keep equal settings equal (case, relative model paths)."""
    if key == "log_level" and isinstance(value, str):
        return value.lower()
    if key == "llm.model" and isinstance(value, str) and _looks_like_path(value):
        return str(_absolute(value, src.base_dir))
    return value


def _show(key: str, value: Any) -> str:
    last = key.rsplit(".", 1)[-1]
    return "'***'" if last in _SECRET_KEYS and value is not None else repr(value)


# --- the layers ------------------------------------------------------------------


def load_config(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> NodeConfig:
    """Build the config from defaults < ``config_file`` < ``env`` < ``overrides``.

    ``config_file`` falls back to ``$PEERMIND_CONFIG``; with neither, no file is
    read. ``overrides`` maps dotted keys (``"llm.model"``, ``"listen"``) to the
    values of the CLI flags the user actually set; ``None`` means "not set".
    Raises :class:`ConfigError` naming the source of the first bad value.
    """
    env = os.environ if env is None else env
    overrides = {} if overrides is None else overrides
    cwd = Path.cwd()
    values: dict[str, Any] = {k: _default(s, env) for k, s in _SPECS.items()}
    sources: dict[str, str] = dict.fromkeys(_SPECS, "default")

    if config_file is None and env.get(_ENV_CONFIG_FILE, "").strip():
        config_file = _absolute(env[_ENV_CONFIG_FILE].strip(), cwd)
    layers: list[tuple[str, Any, _Source]] = []
    if config_file is not None:
        layers += _file_layer(Path(config_file).expanduser())
    layers += _env_layer(env, cwd)
    for key, value in overrides.items():
        if value is None:
            continue
        src = _Source(f"command-line flag for {key!r}", text=isinstance(value, str), base_dir=cwd)
        if key not in _SPECS:
            raise ConfigError(f"{src.label}: unknown setting {key!r}{_suggest(key)}")
        layers.append((key, value, src))

    for key, raw, src in layers:
        spec = _SPECS[key]
        try:
            value = _normalise(key, _convert(raw, spec.hint, src), src)
        except ValueError as exc:
            raise ConfigError(
                f"{src.label}: invalid value {_show(key, raw)} for {key} "
                f"({_type_name(spec.hint)}): {exc}"
            ) from None
        check = spec.field.metadata.get("check")
        if check is not None and (reason := check(value)) is not None:
            raise ConfigError(f"{src.label}: invalid value {_show(key, raw)} for {key}: {reason}")
        values[key], sources[key] = value, src.label

    for keys, message in _cross_field_problems(values):
        where = "; ".join(f"{k} from {sources[k]}" for k in keys)
        raise ConfigError(f"{message} [{where}]")
    return _build(values)


def _default(spec: _Spec, env: Mapping[str, str]) -> Any:
    if spec.key == "data_dir":
        return default_data_dir(env)
    if spec.field.default_factory is not dataclasses.MISSING:
        return spec.field.default_factory()
    return spec.field.default


def _build(values: Mapping[str, Any]) -> NodeConfig:
    sections = {
        name: cls(**{k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(name + ".")})
        for name, cls in _SECTIONS.items()
    }
    top = {k: v for k, v in values.items() if "." not in k}
    return NodeConfig(**top, **sections)  # type: ignore[arg-type]


def _file_layer(path: Path) -> list[tuple[str, Any, _Source]]:
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist (check --config / PEERMIND_CONFIG)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # TOMLDecodeError, or bytes that are not UTF-8
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None

    base_dir = path.parent.resolve()
    out: list[tuple[str, Any, _Source]] = []

    def add(key: str, value: Any) -> None:
        if key not in _SPECS:
            raise ConfigError(f"config file {path}: unknown key {key!r}{_suggest(key)}")
        out.append((key, value, _Source(f"config file {path}, key {key!r}", False, base_dir)))

    for name, value in document.items():
        if name in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: {name!r} must be a [{name}] table")
            for sub, subvalue in value.items():
                add(f"{name}.{sub}", subvalue)
        else:
            add(name, value)
    return out


def _env_layer(env: Mapping[str, str], cwd: Path) -> list[tuple[str, Any, _Source]]:
    by_name = {env_var_name(k): k for k in _SPECS} | _ENV_SHORTCUTS
    chosen: dict[str, tuple[str, str]] = {}  # key -> (var, value)
    for var in sorted(env):
        if not var.startswith(_ENV_PREFIX) or var == _ENV_CONFIG_FILE:
            continue
        key = by_name.get(var)
        if key is None:
            if "__" in var:
                raise ConfigError(
                    f"environment variable {var}: no such setting"
                    f"{_suggest(var[len(_ENV_PREFIX) :].lower().replace('__', '.'))}"
                )
            continue  # PEERMIND_* names of other tools
        if key in chosen and chosen[key][1] != env[var]:
            raise ConfigError(
                f"environment variables {chosen[key][0]} and {var} both set {key} "
                "to different values; unset one"
            )
        chosen[key] = (var, env[var])
    return [
        (key, value, _Source(f"environment variable {var}", True, cwd))
        for key, (var, value) in chosen.items()
    ]


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, list(_SPECS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- TOML output ---------------------------------------------------------------


def config_to_toml(cfg: NodeConfig, *, redact_secrets: bool = True, explain: bool = False) -> str:
    """Render ``cfg`` as a TOML file that :func:`load_config` reads back to ``cfg``.

    Secrets are shown as ``"***"`` unless ``redact_secrets`` is false; unset
    optional values become comments; ``explain`` adds each setting's help,
    default and environment variable as comments.
    """
    flat = _flatten(cfg)
    defaults = {f.key: f.default for f in describe_fields()}
    lines: list[str] = ["# peermind node configuration"]
    current_section = ""
    for key, spec in _SPECS.items():
        section, _, name = key.rpartition(".")
        if section != current_section:
            lines += ["", f"[{section}]"]
            current_section = section
        if explain:
            lines.append(f"# {spec.field.metadata['help']}")
            lines.append(f"#   default: {defaults[key]}; environment: {env_var_name(key)}")
        value = flat[key]
        if value is None:
            lines.append(f"# {name} = (unset)")
        elif redact_secrets and name in _SECRET_KEYS:
            lines.append(f'{name} = "***"  # redacted')
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return _toml_string(str(value))
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
