"""Router weights on disk: a numpy .npz with a JSON header naming the schema.

The header lets a node refuse weights trained for another embedder, schema
version or model list before any array is interpreted.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from os import PathLike
from pathlib import Path

import numpy as np

from ._errors import IncompatibleWeights, RouterFileError
from ._npy import NPY_LOCK
from ._schema import FeatureSchema

FILE_FORMAT = "peermind-router"
FILE_FORMAT_VERSION = 1


def write_router_file(
    path: str | PathLike[str], schema: FeatureSchema, arrays: list[np.ndarray]
) -> None:
    """Write ``arrays`` under a schema header; replaces ``path`` atomically."""
    target = Path(path)
    header = {
        "format": FILE_FORMAT,
        "format_version": FILE_FORMAT_VERSION,
        "schema_version": schema.version,
        "embed_dim": schema.embed_dim,
        "model_keys": list(schema.model_keys),
        "arrays": len(arrays),
    }
    payload = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    payload.update({f"array_{i}": a for i, a in enumerate(arrays)})
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".router-", suffix=".npz", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)  # type: ignore[arg-type]
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_router_file(path: str | PathLike[str]) -> tuple[FeatureSchema, list[np.ndarray]]:
    """Read (schema, arrays); RouterFileError if unreadable, IncompatibleWeights if foreign."""
    try:
        with NPY_LOCK, np.load(Path(path), allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            count = int(header.get("arrays", 0))
            arrays = [np.array(data[f"array_{i}"]) for i in range(count)]
    except FileNotFoundError as exc:
        raise RouterFileError(f"router file {path} does not exist") from exc
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise RouterFileError(
            f"router file {path} is unreadable or not a peermind router file ({exc}); "
            "delete it to start from the federation's weights"
        ) from exc
    if not isinstance(header, dict) or header.get("format") != FILE_FORMAT:
        raise RouterFileError(f"{path} is not a peermind router file (no '{FILE_FORMAT}' header)")
    if header.get("format_version") != FILE_FORMAT_VERSION:
        raise IncompatibleWeights(
            f"router file {path} has format version {header.get('format_version')!r}; "
            f"this peermind reads version {FILE_FORMAT_VERSION}"
        )
    try:
        schema = FeatureSchema(
            version=int(header["schema_version"]),
            embed_dim=int(header["embed_dim"]),
            model_keys=tuple(str(k) for k in header["model_keys"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RouterFileError(f"router file {path} has a damaged header: {exc}") from exc
    return schema, arrays
