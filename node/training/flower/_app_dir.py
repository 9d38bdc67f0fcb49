"""The Flower app directory, the ``$FLWR_HOME/config.toml`` and the run-config file of one run.

The app is peermind's own ServerApp/ClientApp (``peermind.node.training.flower._apps``),
declared in a ``pyproject.toml`` with ``[tool.flwr.app]`` so that the standard
``flwr run APP_DIR CONNECTION --stream`` submits it and ``flwr ls`` / ``flwr log``
see it. Run settings go in a TOML file (``--run-config FILE``: values with
spaces are rejected on the command line); every key must have a default in
``[tool.flwr.app.config]`` to be overridable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

SERVER_COMPONENT = "peermind.node.training.flower._apps:server_app"
CLIENT_COMPONENT = "peermind.node.training.flower._apps:client_app"
CONNECTION = "peermind"

ConfigValue = str | int | float | bool

RUN_CONFIG_DEFAULTS: dict[str, ConfigValue] = {
    "num-server-rounds": 3,
    "min-nodes": 2,
    "strategy": "fedavg",
    "round-timeout-s": 30.0,
    "local-epochs": 10,
    "lr": 2.0,
    "l2": 0.0001,
    "client-clipping-norm": 0.0,
    "peermind-run-id": "0",
    "output-dir": "",
    "initial-router": "",
    "reputation-file": "",
    "identities-file": "",
    "expected-nodes": 2,
    "wait-nodes-s": 60.0,
}


def toml_value(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def toml_table(values: Mapping[str, ConfigValue]) -> str:
    return "".join(f"{key} = {toml_value(value)}\n" for key, value in values.items())


def write_app_dir(path: Path) -> Path:
    """Write the app's pyproject.toml into ``path`` (created) and return ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["hatchling"]\n'
        'build-backend = "hatchling.build"\n\n'
        "[project]\n"
        'name = "peermind-router"\n'
        'version = "1.0.0"\n'
        'description = "peermind federated router training"\n'
        'license = "Apache-2.0"\n'
        'dependencies = ["flwr==1.42.0"]\n\n'
        "[tool.hatch.build.targets.wheel]\n"
        'packages = ["."]\n\n'
        "[tool.flwr.app]\n"
        'publisher = "peermind"\n\n'
        "[tool.flwr.app.components]\n"
        f'serverapp = "{SERVER_COMPONENT}"\n'
        f'clientapp = "{CLIENT_COMPONENT}"\n\n'
        "[tool.flwr.app.config]\n" + toml_table(RUN_CONFIG_DEFAULTS)
    )
    return path


def write_connection(flwr_home: Path, address: str, *, root_cert: Path | None) -> Path:
    """``$FLWR_HOME/config.toml`` naming the SuperLink connection ``peermind``."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    body = f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = {toml_value(address)}\n'
    if root_cert is None:
        body += "insecure = true\n"
    else:
        body += f"root-certificates = {toml_value(str(root_cert))}\n"
    path = flwr_home / "config.toml"
    path.write_text(body)
    return path


def write_run_config(path: Path, values: Mapping[str, ConfigValue]) -> Path:
    unknown = sorted(set(values) - set(RUN_CONFIG_DEFAULTS))
    if unknown:
        raise ValueError(f"run-config keys without a default in the app: {unknown}")
    path.write_text(toml_table(values))
    return path


def node_config_arg(values: Mapping[str, ConfigValue]) -> str:
    """``--node-config`` value: space-separated ``key=value`` with TOML values."""
    return " ".join(f"{key}={toml_value(value)}" for key, value in values.items())
