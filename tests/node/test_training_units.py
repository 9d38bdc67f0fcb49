"""Pure logic of node/training: requests, refusals, adoption, row splits, files, guard, supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from peermind.federated import (
    FeatureSchema,
    FeedbackRow,
    RouterModel,
    message_from_bytes,
    message_to_bytes,
)
from peermind.federated._flower_compat import ensure_instruction_identity, stamp_instruction
from peermind.node.store import FeedbackRecord
from peermind.node.training import InvalidRunRequest, RunRequest, TrainingError, TrainingRefused
from peermind.node.training._adoption import (
    ADOPT_MESSAGE_TYPE,
    adopt_content,
    decide,
    router_from_adopt,
)
from peermind.node.training._audit import describe_reply
from peermind.node.training._participant import LocalDpSettings, privacy_mod
from peermind.node.training._rows import is_validation, split_records
from peermind.node.training.flower._app_dir import (
    CLIENT_COMPONENT,
    SERVER_COMPONENT,
    node_config_arg,
    write_app_dir,
    write_run_config,
)
from peermind.node.training.flower._rows_file import export_rows, import_rows
from peermind.node.training.flower._supervisor import GUARD, Supervised
from peermind.node.training.flower._tls import make_server_tls, make_supernode_keys
from training_kit import MODEL_KEYS, synthetic_rows

SCHEMA = FeatureSchema(version=1, model_keys=MODEL_KEYS)


# ------------------------------------------------------------------ requests and refusals
def test_run_request_validates_every_field() -> None:
    assert RunRequest.from_json({"rounds": 2, "min_nodes": 3, "round_timeout_s": 5}).round_timeout_s == 5.0
    for bad in ({"rounds": 0}, {"min_nodes": "3"}, {"strategy": "krum"}, {"engine": "grpc"},
                {"round_timeout_s": 0.1}, {"lr": float("nan")}, {"clip_norm": -1.0},
                {"adopt": "yes"}, {"flower_tls": 1}, {"colour": "red"}):
        with pytest.raises(InvalidRunRequest):
            RunRequest.from_json(bad)


def test_refusal_travels_as_a_typed_wire_string() -> None:
    refusal = TrainingRefused("busy", "already in 4 training runs")
    back = TrainingRefused.from_wire(refusal.wire())
    assert back is not None and (back.reason, back.detail) == ("busy", "already in 4 training runs")
    assert TrainingRefused.from_wire("malformed: x") is None
    assert len(TrainingRefused("x", "y" * 5000).wire()) == 1024


# ------------------------------------------------------------------ adoption
def _trained(rows: list[FeedbackRow], epochs: int = 50) -> RouterModel:
    model = RouterModel(SCHEMA)
    model.fit(rows, epochs, 2.0)
    return model


def test_adoption_keeps_a_better_current_router_and_takes_a_not_worse_one() -> None:
    rows = synthetic_rows(1, queries_per_node=200)[0]
    train, val = rows[:300], rows[300:]
    good, bad = _trained(train), RouterModel(SCHEMA, np.random.default_rng(0).normal(size=(2, 384)) * 3)
    assert decide(None, good, val, 0.005).adopted  # nothing yet: something trained beats nothing
    keep = decide(good, bad, val, 0.005)
    assert not keep.adopted and keep.candidate_log_loss > keep.current_log_loss + 0.005
    same = decide(good, good.copy(), val, 0.005)
    assert same.adopted  # not worse by more than the tolerance
    assert not decide(good, _trained(train, 5), [], 0.005).adopted  # no evidence: keep
    other = RouterModel(FeatureSchema(version=1, model_keys=("a", "b", "c")))
    assert decide(other, good, val, 0.005).adopted and "another schema" in decide(other, good, val, 0.005).reason
    assert decide(good, bad, val, 0.005).to_json()["adopted"] is False


def test_adopt_message_round_trips_and_rejects_garbage() -> None:
    model = _trained(synthetic_rows(1)[0])
    ensure_instruction_identity()
    msg = Message(adopt_content(model, {"rounds": 3, "run-id": "9"}), 5, ADOPT_MESSAGE_TYPE)
    stamp_instruction(msg, run_id=9, message_id="m")
    back, info = router_from_adopt(message_from_bytes(message_to_bytes(msg)))
    assert np.allclose(back.to_arrays()[0], model.to_arrays()[0]) and info["rounds"] == 3
    with pytest.raises(TrainingError):
        router_from_adopt(Message(RecordDict({"x": ConfigRecord({"a": 1})}), 5, ADOPT_MESSAGE_TYPE))


# ------------------------------------------------------------------ rows
def _record(i: int, *, mode: str = "organic", correct: bool | None = True, dim: int = 384,
            split: str | None = None) -> FeedbackRecord:
    emb = np.full(dim, 0.1, np.float32)
    return FeedbackRecord(i, None, emb, f"q{i}", None, "smollm2", mode, correct, None, None, None, 0.0, split=split)


def test_rows_split_by_query_and_respect_seed_splits() -> None:
    records = [_record(i) for i in range(400)]
    train, val = split_records(records, 0.2)
    assert 50 < len(val) < 110 and len(train) + len(val) == 400
    assert {r.query_id for r in val} == {f"q{i}" for i in range(400) if is_validation(f"q{i}", 0.2)}
    assert [r.query_id for r in split_records(records, 0.2)[1]] == [r.query_id for r in val]  # deterministic
    seeded = [_record(1, mode="seed", split="train"), _record(2, mode="seed", split="validation"), _record(3, correct=None),
              _record(4, dim=16)]
    train, val = split_records(seeded, 0.99)
    assert [r.query_id for r in train] == ["q1"] and [r.query_id for r in val] == ["q2"]


def test_exported_rows_are_private_and_round_trip(tmp_path: Path) -> None:
    rows = synthetic_rows(1)[0]
    path = tmp_path / "d" / "rows.npz"
    assert export_rows(path, rows[:100], rows[100:]) == len(rows)
    assert path.stat().st_mode & 0o777 == 0o600
    train, val = import_rows(path)
    assert len(train) == 100 and len(val) == len(rows) - 100
    assert train[3].query_id == rows[3].query_id and np.allclose(val[0].embedding, rows[100].embedding)
    with pytest.raises(TrainingError):
        import_rows(tmp_path / "missing.npz")


# ------------------------------------------------------------------ Flower records
def test_privacy_mod_clips_only_when_asked_and_adds_local_noise() -> None:
    from peermind.federated import make_client_app
    from peermind.federated._records import router_to_arrayrecord, schema_to_config

    rows = synthetic_rows(1)[0]
    ensure_instruction_identity()

    def run(mod_dp: LocalDpSettings | None, config: dict) -> np.ndarray:
        app = make_client_app(lambda: (rows, rows), train_mods=(privacy_mod(mod_dp),))
        content = RecordDict({"arrays": router_to_arrayrecord(RouterModel(SCHEMA)),
                              "config": ConfigRecord({**schema_to_config(SCHEMA), **config})})
        msg = Message(content, 7, "train")
        stamp_instruction(msg, run_id=1, message_id="x")
        ctx = Context(run_id=1, node_id=7, node_config={}, state=RecordDict(), run_config={})
        reply = app(message_from_bytes(message_to_bytes(msg)), ctx)
        assert not reply.has_error(), reply.error
        arrays: ArrayRecord = reply.content.array_records["arrays"]
        return np.concatenate([a.numpy().ravel() for a in arrays.values()])

    free = run(None, {})
    clipped = run(None, {"clipping_norm": 0.1})
    noisy = run(LocalDpSettings(epsilon=1.0, delta=1e-5), {"clipping_norm": 0.1})
    assert np.linalg.norm(free) > 0.1 and np.linalg.norm(clipped) == pytest.approx(0.1, rel=1e-3)
    assert np.linalg.norm(noisy - clipped) > 0.1  # sigma = 0.1 * sqrt(2 ln 1.25e5) ~ 0.48 per weight
    assert LocalDpSettings(1.0, 1e-5).noise_std(0.1) == pytest.approx(0.4845, rel=1e-3)


def test_describe_reply_names_records_shapes_and_keys() -> None:
    ensure_instruction_identity()
    from peermind.federated._records import router_to_arrayrecord

    inst = Message(RecordDict(), 9, "train")
    stamp_instruction(inst, run_id=1, message_id="i")
    reply = Message(RecordDict({"arrays": router_to_arrayrecord(RouterModel(SCHEMA))}), reply_to=inst)
    summary = describe_reply(message_to_bytes(reply))
    assert summary["arrays"] == {"arrays": {"weights": [2, 384], "bias": [2]}}
    assert summary["configs"] == {} and summary["message_type"] == "train"
    assert "malformed" in describe_reply(b"\x00garbage")


# ------------------------------------------------------------------ app dir and TLS
def test_app_dir_declares_peermind_components_and_run_config(tmp_path: Path) -> None:
    app = write_app_dir(tmp_path / "app")
    project = tomllib.loads((app / "pyproject.toml").read_text())
    flwr = project["tool"]["flwr"]["app"]
    assert flwr["components"] == {"serverapp": SERVER_COMPONENT, "clientapp": CLIENT_COMPONENT}
    assert flwr["config"]["num-server-rounds"] == 3
    run = write_run_config(tmp_path / "run.toml", {"strategy": "median", "output-dir": "/tmp/a b"})
    assert tomllib.loads(run.read_text()) == {"strategy": "median", "output-dir": "/tmp/a b"}
    with pytest.raises(ValueError):
        write_run_config(tmp_path / "bad.toml", {"surprise": 1})
    assert node_config_arg({"data-path": "/x/rows.npz", "dp-epsilon": 1.0}) == 'data-path="/x/rows.npz" dp-epsilon=1.0'


def test_tls_material_has_the_san_and_keys_flower_loads(tmp_path: Path) -> None:
    ca, cert, key = make_server_tls(tmp_path, "10.1.2.3")
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert key.stat().st_mode & 0o777 == 0o600
    private, public = make_supernode_keys(tmp_path / "node")
    load_ssh_private_key(private.read_bytes(), password=None)  # what flower-supernode does
    assert load_ssh_public_key(public).curve.name == "secp384r1"  # type: ignore[union-attr]


# ------------------------------------------------------------------ processes
def test_guard_stops_the_command_when_its_parent_dies(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text(f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    parent_script = tmp_path / "parent.py"
    parent_script.write_text(
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-I', {str(GUARD)!r}, str(os.getpid()), '--', sys.executable, {str(sleeper)!r}],"
        " start_new_session=True)\n"
        "time.sleep(2)\n"
    )
    parent = subprocess.Popen([sys.executable, str(parent_script)])
    deadline = time.monotonic() + 15
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(marker.read_text())
    parent.wait(timeout=15)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the guarded command outlived its parent")


async def test_supervisor_waits_for_the_port_restarts_and_stops_the_group(tmp_path: Path) -> None:
    from peermind.node.training.flower._env import free_port

    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    sup = Supervised("http", argv, env=dict(os.environ), log_path=tmp_path / "http.log",
                     ready_port=("127.0.0.1", port), restarts=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert sup.alive and sup.rss_mb() > 5
        first = sup.process.pid  # type: ignore[union-attr]
        os.killpg(first, signal.SIGKILL)
        with trio.fail_after(20):
            while sup.restarts_done == 0 or not sup.alive:  # noqa: ASYNC110
                await trio.sleep(0.1)
        await sup.stop()
        assert not sup.alive
        nursery.cancel_scope.cancel()
    bad = Supervised("nothing", [sys.executable, "-c", "raise SystemExit(3)"], env=dict(os.environ),
                     log_path=tmp_path / "bad.log", ready_port=("127.0.0.1", free_port()))
    failures: list[BaseException] = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(bad.run)
    except* TrainingError as group:
        failures = list(group.exceptions)
    assert failures and "exited with 3 while starting" in str(failures[0])


def test_the_flower_env_makes_superexecs_poll_for_tasks_every_tenth_of_a_second(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read back by Flower's own SuperExec code: a renamed or rejected variable fails here."""
    from flwr.supercore.superexec.run_superexec import _get_task_poll_interval
    from peermind.node.training.flower._env import SUPEREXEC_POLL_S, flower_env

    env = flower_env(tmp_path)
    for key in [k for k in os.environ if k.startswith("FLWR_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("FLWR_"):
            monkeypatch.setenv(key, value)
    assert _get_task_poll_interval() == SUPEREXEC_POLL_S == 0.1


def test_a_participant_counts_as_in_a_run_only_while_its_coordinator_writes() -> None:
    """The node's idle work (learning, probes) waits while a run is under way here, but a run
    whose coordinator vanished must not keep the node busy until it is forgotten (an hour)."""
    from peermind.node.training._participant import Participant

    participant = Participant(peer_id="12D3KooWself", rows=lambda: ([], []), available=lambda: True,
                              on_round=lambda *_: None)
    assert not participant.active()
    participant.admit("7", "12D3KooWcoordinator")
    assert participant.active()
    assert not participant.active(window_s=-1.0)  # nothing written within the window
    participant.leave("7")
    assert not participant.active()
