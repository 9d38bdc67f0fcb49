"""`peermind keys ...` and the mistakes users make starting a node: one clear line each, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from nodeproc import NodeCluster, peermind

pytestmark = pytest.mark.integration

LOOPBACK = ["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"]


def _one_line_error(result: object, *must_contain: str) -> str:
    rc, out, err = result.returncode, result.stdout, result.stderr  # type: ignore[attr-defined]
    assert rc == 2, f"exit code {rc}; stderr:\n{err}"
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("peermind: ")
    for text in must_contain:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_keys_show_creates_once_and_new_refuses_to_overwrite(tmp_path: Path) -> None:
    first = peermind("keys", "show", "--data-dir", str(tmp_path))
    assert first.returncode == 0 and first.stdout.strip().startswith("12D3KooW")
    again = peermind("keys", "show", "--data-dir", str(tmp_path))
    assert again.stdout == first.stdout  # same identity, not a new key each time

    refused = peermind("keys", "new", "--data-dir", str(tmp_path))
    _one_line_error(refused, str(tmp_path), "--force")
    assert peermind("keys", "show", "--data-dir", str(tmp_path)).stdout == first.stdout

    forced = peermind("keys", "new", "--force", "--data-dir", str(tmp_path))
    assert forced.returncode == 0 and forced.stdout.strip().startswith("12D3KooW")
    assert forced.stdout != first.stdout
    assert peermind("keys", "show", "--data-dir", str(tmp_path)).stdout == forced.stdout


def test_corrupt_key_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    assert peermind("keys", "show", "--data-dir", str(tmp_path)).returncode == 0
    key_files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert len(key_files) == 1
    key_files[0].write_bytes(b"this is not a key\n")
    _one_line_error(peermind("keys", "show", "--data-dir", str(tmp_path)), str(key_files[0]))
    _one_line_error(peermind("node", "run", "--data-dir", str(tmp_path), *LOOPBACK), str(key_files[0]))
    assert key_files[0].read_bytes() == b"this is not a key\n"  # never replaced silently


def test_listen_port_in_use(tmp_path: Path, busy_port: int) -> None:
    r = peermind("node", "run", "--data-dir", str(tmp_path), "--listen", f"/ip4/127.0.0.1/tcp/{busy_port}", "--api", "127.0.0.1:0")
    _one_line_error(r, str(busy_port), "in use", "--listen")


def test_api_port_in_use(tmp_path: Path, busy_port: int) -> None:
    r = peermind("node", "run", "--data-dir", str(tmp_path), "--listen", "/ip4/127.0.0.1/tcp/0", "--api", f"127.0.0.1:{busy_port}")
    _one_line_error(r, str(busy_port), "in use", "--api")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "/no/such/model.gguf"], ["/no/such/model.gguf", "smollm2"]),
        (["--model", "smollm3"], ["smollm3", "smollm2"]),
        (["--bootstrap", "/ip4/127.0.0.1/tcp/4001"], ["bootstrap", "/p2p/"]),
        (["--bootstrap", "not-an-address"], ["bootstrap", "not-an-address"]),
        (["--join", "hello"], ["--join", "invite"]),
        (["--set", "limits.max_tokens=lots"], ["limits.max_tokens", "lots"]),
        (["--network", "Bad Name!"], ["network"]),
    ],
    ids=["model-path", "model-profile", "bootstrap-no-peer-id", "bootstrap-garbage", "join-token", "set-type", "network-name"],
)
def test_bad_flags(tmp_path: Path, args: list[str], expected: list[str]) -> None:
    data = tmp_path / "node"
    _one_line_error(peermind("node", "run", "--data-dir", str(data), *LOOPBACK, *args), *expected)
    assert not (data / "node.db").exists()  # a typo leaves nothing behind


def test_bad_config_files(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[llm]\nmodle = 'smollm2'\n")
    _one_line_error(peermind("node", "run", "--config", str(unknown), *LOOPBACK), str(unknown), "modle")
    broken = tmp_path / "broken.toml"
    broken.write_text("listen = [\n")
    _one_line_error(peermind("node", "run", "--config", str(broken), *LOOPBACK), str(broken), "TOML")
    missing = tmp_path / "missing.toml"
    _one_line_error(peermind("node", "run", "--config", str(missing), *LOOPBACK), str(missing))


def test_api_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    r = peermind("node", "run", "--data-dir", str(tmp_path), "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "0.0.0.0:0")
    _one_line_error(r, "api_token", "PEERMIND_API_TOKEN")


# ---------------------------------------------------------------- commands that talk to a node's API
# Every command that takes --api; each must turn every address/connection problem into one line.
API_COMMANDS = [
    ["status"], ["peers"], ["peers", "--trust"], ["ask", "hi"], ["invite"], ["top", "--once"],
    ["router", "status"], ["router", "seed"], ["router", "calibrate"], ["feedback", "task-1", "--correct"],
    ["train", "status"], ["train", "history"], ["train", "start"], ["trust", "peers"], ["trust", "explain", "12D3KooW"],
]
API_IDS = ["-".join(c[:2]).replace("--", "") for c in API_COMMANDS]


@pytest.fixture(scope="module")
def free_port() -> Iterator[int]:
    """A loopback port nothing listens on: held bound (not listening), so no other process takes it meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@pytest.fixture(scope="module")
def foreign_http() -> Iterator[str]:
    """A real HTTP server that is not a peermind node (Python's file server)."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", API_COMMANDS, ids=API_IDS)
def test_malformed_api_address(command: list[str]) -> None:
    _one_line_error(peermind(*command, "--api", "not a host:port"), "'not a host:port' is not an API address", "HOST:PORT")


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "ftp://127.0.0.1:8080", ":8080"])
def test_other_bad_api_addresses(address: str) -> None:
    _one_line_error(peermind("status", "--api", address), f"{address!r} is not an API address")


@pytest.mark.parametrize("command", API_COMMANDS, ids=API_IDS)
def test_no_node_at_the_address(command: list[str], free_port: int) -> None:
    r = peermind(*command, "--api", f"127.0.0.1:{free_port}")
    _one_line_error(r, f"no peermind node API at http://127.0.0.1:{free_port}", "is the daemon running")


@pytest.mark.parametrize("command", [["status"], ["peers"], ["ask", "hi"], ["train", "status"]], ids=["status", "peers", "ask", "train"])
def test_something_else_at_the_address(command: list[str], foreign_http: str) -> None:
    _one_line_error(peermind(*command, "--api", foreign_http), "is it a peermind node API")


def test_file_where_a_directory_belongs(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    _one_line_error(peermind("status", "--data-dir", str(a_file)), str(a_file), "not a directory")
    _one_line_error(peermind("keys", "show", "--data-dir", str(a_file)), str(a_file))
    _one_line_error(peermind("node", "run", "--data-dir", str(a_file), *LOOPBACK), str(a_file), "not a directory")
    _one_line_error(peermind("testnet", "status", "--dir", str(a_file)), str(a_file), "not a directory")
    _one_line_error(peermind("testnet", "down", "--dir", str(a_file)), str(a_file), "not a directory")
    assert a_file.read_text() == "not a directory\n"


def test_unreadable_or_missing_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[llm]\n")
    _one_line_error(peermind("config", "show", "--config", str(binary)), str(binary), "TOML")
    _one_line_error(peermind("config", "show", "--config", str(tmp_path)), str(tmp_path))
    missing = tmp_path / "missing.jsonl"
    _one_line_error(peermind("bench", "eval", "--data", str(missing), "--api", "127.0.0.1:1"), str(missing))
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("this is not JSON\n")
    _one_line_error(peermind("bench", "eval", "--data", str(garbage), "--api", "127.0.0.1:1"), str(garbage), "JSON")


@pytest.mark.slow
def test_wrong_or_missing_api_token(cluster: NodeCluster) -> None:
    """A real node with a token: a wrong or missing one is one line; the right one works (the check can fail)."""
    node = cluster.start("n0", token="right-token")
    api = node.api_url.removeprefix("http://")
    ok = peermind("status", "--api", api, "--token", "right-token")
    assert ok.returncode == 0, ok.stderr
    for given in (["--token", "wrong-token"], []):
        for command in (["status"], ["ask", "hi"], ["peers", "--trust"], ["train", "status"], ["invite"],
                        ["router", "status"], ["trust", "peers"], ["top", "--once"]):
            _one_line_error(peermind(*command, "--api", api, *given), "API token", "HTTP 401", "--token")
    # The API's own refusals are one line too.
    _one_line_error(peermind("trust", "explain", "12D3KooWNobodyKnowsMe", "--api", api, "--token", "right-token"), "HTTP 404")
    _one_line_error(peermind("ask", "hi", "--peer", "12D3KooWNobodyKnowsMe", "--api", api, "--token", "right-token"), "HTTP")


def test_error_table_unwraps_nursery_groups_and_keeps_bugs() -> None:
    """Pure: the table's lines, trio's exception groups of user errors, and bugs left alone (None)."""
    from peermind.node.cli_errors import user_error_line
    from peermind.node.errors import ConfigError

    assert user_error_line(ConfigError("bad setting")) == "bad setting"
    assert user_error_line(FileNotFoundError(2, "No such file", "/x/y")) == "no such file or directory: /x/y"
    group = ExceptionGroup("nursery", [ConfigError("a"), PermissionError(13, "denied", "/etc/z")])
    assert user_error_line(group) == "a; permission denied: /etc/z"
    assert user_error_line(ValueError("a bug")) is None
    assert user_error_line(ExceptionGroup("nursery", [ConfigError("a"), KeyError("bug")])) is None
