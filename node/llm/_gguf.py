"""A light GGUF header reader: scalar metadata and the parameter count.

Resolving a model must not load its weights (loading takes a worker thread and
hundreds of MB), so this reads only the header: key/value pairs (arrays such as
the vocabulary are skipped, not decoded) and the tensor shapes, whose element
counts sum to the parameter count. Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ._errors import ModelNotFound

_MAGIC = b"GGUF"
# GGUF value types -> struct format of one scalar (8 = string, 9 = array).
_SCALAR_FORMATS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9

# llama_ftype enum (llama.h) -> the quantisation name users know.
FILE_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE",
}
_QUANT_IN_NAME = re.compile(
    r"(?i)(?<![A-Z0-9])("
    + "|".join(sorted(map(re.escape, FILE_TYPE_NAMES.values()), key=len, reverse=True))
    + r")(?![A-Z0-9])"
)


@dataclass(frozen=True)
class GGUFHeader:
    """What a profile needs from a GGUF file, read without loading weights."""

    metadata: dict[str, str | int | float | bool]
    n_params: int

    def text(self, key: str, default: str = "") -> str:
        value = self.metadata.get(key, default)
        return value if isinstance(value, str) else str(value)


class _Reader:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> int | float | bool:
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def u32(self) -> int:
        return int(self.unpack("<I"))

    def u64(self) -> int:
        return int(self.unpack("<Q"))

    def string(self) -> str:
        n = self.u64()
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.pos += 8 + int(struct.unpack_from("<Q", self.buf, self.pos)[0])

    def value(self, vtype: int) -> str | int | float | bool | None:
        """Read one value; arrays are skipped and read as None."""
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, count = self.u32(), self.u64()
            if item_type == _STRING:
                for _ in range(count):
                    self.skip_string()
            elif item_type in _SCALAR_FORMATS:
                self.pos += struct.calcsize(_SCALAR_FORMATS[item_type]) * count
            else:  # nested arrays: walk them item by item
                for _ in range(count):
                    self.value(item_type)
            return None
        if vtype in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[vtype])
        raise ValueError(f"unknown GGUF value type {vtype} at byte {self.pos}")


def read_gguf_header(path: Path) -> GGUFHeader:
    """Read scalar metadata and the parameter count of a GGUF file.

    Raises ModelNotFound when the file is missing or is not a GGUF model.
    """
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if buf[:4] != _MAGIC:
                raise ModelNotFound(f"{path} is not a GGUF file (bad magic); pass a .gguf model file")
            reader = _Reader(buf)
            reader.pos = 4
            version = reader.u32()
            if version < 2:
                raise ModelNotFound(f"{path} uses GGUF version {version}; re-convert it to GGUF v3")
            n_tensors, n_kv = reader.u64(), reader.u64()
            metadata: dict[str, str | int | float | bool] = {}
            for _ in range(n_kv):
                key = reader.string()
                value = reader.value(reader.u32())
                if value is not None:
                    metadata[key] = value
            n_params = 0
            for _ in range(n_tensors):
                reader.skip_string()
                dims = [reader.u64() for _ in range(reader.u32())]
                reader.pos += 4 + 8  # tensor type, data offset
                count = 1
                for dim in dims:
                    count *= dim
                n_params += count
    except FileNotFoundError as exc:
        raise ModelNotFound(f"model file {path} does not exist") from exc
    except (OSError, ValueError, struct.error) as exc:
        raise ModelNotFound(f"cannot read GGUF header of {path}: {exc}") from exc
    return GGUFHeader(metadata=metadata, n_params=n_params)


def quant_name(header: GGUFHeader, path: Path) -> str:
    """Quantisation from 'general.file_type', else from the file name, else 'unknown'."""
    file_type = header.metadata.get("general.file_type")
    if isinstance(file_type, int) and not isinstance(file_type, bool) and file_type in FILE_TYPE_NAMES:
        return FILE_TYPE_NAMES[file_type]
    match = _QUANT_IN_NAME.search(path.name)
    return match.group(1).upper() if match else "unknown"
