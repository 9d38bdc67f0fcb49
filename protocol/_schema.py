"""Typed message schemas with declared limits and one generic validator.

A schema is a frozen, keyword-only dataclass subclassing :class:`Message`.
Field limits live next to the type, ``Annotated[str, Limits(max_len=128)]``,
and are compiled once per class into small check/decode/encode closures, so
the rules a peer must obey are readable in one place and enforced the same
way for messages we build (``__post_init__``) and messages we receive
(``from_body``).

Wire rules (see SPEC.md): a body is a map with str keys; fields with a
default are optional on the wire, the others required; unknown keys are
ignored unless listed in the reserved ``"_required"`` key. Strings are
limited in UTF-8 bytes, lists in items, numbers by inclusive ranges; floats
must be finite and ints fit in 64 bits.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    ClassVar,
    Self,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from ._errors import SchemaError, UnknownRequiredField

REQUIRED_KEY = "_required"
"""Reserved body key: names of fields the receiver must understand."""

MAX_REQUIRED_NAMES = 64
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1  # msgpack's widest integer (uint64)

message_types: dict[str, type[Message]] = {}
"""Registry of top-level message classes by their wire ``TYPE``."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Declared limits of one field; attach with ``typing.Annotated``.

    ``min_len``/``max_len`` count UTF-8 bytes for ``str`` and bytes for
    ``bytes``; ``min_items``/``max_items`` count list items; ``ge``/``le`` are
    inclusive numeric bounds; ``one_of`` enumerates allowed values;
    ``pattern`` is a regular expression the whole string must match.
    """

    min_len: int = 0
    max_len: int | None = None
    min_items: int = 0
    max_items: int | None = None
    ge: float | None = None
    le: float | None = None
    one_of: tuple[Any, ...] | None = None
    pattern: str | None = None

    def describe(self) -> str:
        """Human-readable summary used in SPEC.md tables and error messages."""
        parts: list[str] = []
        if self.one_of is not None:
            parts.append("one of " + ", ".join(repr(v) for v in self.one_of))
        if self.max_len is not None:
            if self.min_len == self.max_len:
                parts.append(f"exactly {self.max_len} bytes")
            elif self.min_len:
                parts.append(f"{self.min_len}..{self.max_len} bytes")
            else:
                parts.append(f"<= {self.max_len} bytes")
        if self.max_items is not None:
            rng = f"{self.min_items}..{self.max_items}" if self.min_items else f"<= {self.max_items}"
            parts.append(f"{rng} items")
        if self.ge is not None and self.le is not None:
            parts.append(f"{_num(self.ge)}..{_num(self.le)}")
        elif self.ge is not None:
            parts.append(f">= {_num(self.ge)}")
        elif self.le is not None:
            parts.append(f"<= {_num(self.le)}")
        if self.pattern is not None:
            parts.append(f"matches `{self.pattern}`")
        return "; ".join(parts)


_NAMED_BOUNDS = {2**63 - 1: "2^63-1", 2**64 - 1: "2^64-1", -(2**63): "-2^63", 2**40: "2^40"}


def _num(x: float) -> str:
    """Readable bound: ``2^63-1``, ``1e12``, ``4096``, ``0.5``."""
    if isinstance(x, int) and x in _NAMED_BOUNDS:
        return _NAMED_BOUNDS[x]
    if float(x).is_integer():
        if abs(x) >= 1e9 and str(int(x)).rstrip("0") in ("1", "-1"):
            return f"{'-' if x < 0 else ''}1e{len(str(abs(int(x)))) - 1}"
        return str(int(x))
    return repr(x)


CheckFn = Callable[[Any, str], Any]
EncodeFn = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Codec:
    """Compiled handling of one annotated type.

    ``check`` validates (and normalises) a Python value, ``decode`` turns a
    wire value into a validated Python value, ``encode`` does the reverse
    (``None`` means identity, skipped for speed).
    """

    check: CheckFn
    decode: CheckFn
    encode: EncodeFn
    type_name: str
    limits: str


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """Public description of one schema field (for docs and tooling)."""

    name: str
    type_name: str
    required: bool
    default: Any
    limits: str


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    codec: _Codec
    required: bool
    default_factory: Callable[[], Any]
    default_repr: Any


@dataclass(frozen=True, slots=True)
class _CompiledSchema:
    label: str
    fields: tuple[_Field, ...]
    encoders: tuple[tuple[str, EncodeFn], ...]  # sorted by name: canonical key order
    decoders: tuple[tuple[str, CheckFn, bool, Callable[[], Any]], ...]  # flat, for speed
    names: frozenset[str]


_compiled: dict[type, _CompiledSchema] = {}
_MISSING: Any = object()


def _fail(path: str, problem: str) -> SchemaError:
    return SchemaError(f"field {path!r} {problem}", field=path)


def _type_label(value: Any) -> str:
    return "nil" if value is None else type(value).__name__


# --- scalar codecs ----------------------------------------------------------


def _str_codec(lim: Limits) -> _Codec:
    if lim.max_len is None and lim.one_of is None:
        raise TypeError("str fields need Limits(max_len=...) or Limits(one_of=...)")
    max_len = lim.max_len if lim.max_len is not None else max(len(v) for v in lim.one_of or ("",))
    min_len = lim.min_len
    choices = frozenset(lim.one_of) if lim.one_of is not None else None
    regex = re.compile(lim.pattern) if lim.pattern is not None else None

    def check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise _fail(path, f"must be a string, got {_type_label(value)}")
        if choices is not None:
            if value not in choices:
                raise _fail(path, f"must be one of {sorted(choices)}, got {value[:64]!r}")
            return value
        n = len(value)
        if n > max_len:  # a char is >= 1 UTF-8 byte: cheap early reject
            raise _fail(path, f"is longer than {max_len} bytes")
        try:
            n = len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise _fail(path, "is not encodable as UTF-8 (lone surrogate)") from exc
        if n > max_len or n < min_len:
            raise _fail(path, f"must have {min_len}..{max_len} UTF-8 bytes, got {n}")
        if regex is not None and regex.fullmatch(value) is None:
            raise _fail(path, f"must match {regex.pattern!r}, got {value[:64]!r}")
        return value

    return _Codec(check, check, None, "str", lim.describe())


def _bytes_codec(lim: Limits) -> _Codec:
    if lim.max_len is None:
        raise TypeError("bytes fields need Limits(max_len=...)")
    max_len, min_len = lim.max_len, lim.min_len

    def check(value: Any, path: str) -> bytes:
        if not isinstance(value, bytes):
            if isinstance(value, bytearray | memoryview):
                value = bytes(value)
            else:
                raise _fail(path, f"must be bytes, got {_type_label(value)}")
        n = len(value)
        if n > max_len or n < min_len:
            want = f"exactly {max_len}" if min_len == max_len else f"{min_len}..{max_len}"
            raise _fail(path, f"must have {want} bytes, got {n}")
        return value

    return _Codec(check, check, None, "bytes", lim.describe())


def _int_codec(lim: Limits) -> _Codec:
    lo = INT_MIN if lim.ge is None else max(INT_MIN, math.ceil(lim.ge))
    hi = INT_MAX if lim.le is None else min(INT_MAX, math.floor(lim.le))
    choices = frozenset(lim.one_of) if lim.one_of is not None else None

    def check(value: Any, path: str) -> int:
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(path, f"must be an integer, got {_type_label(value)}")
            value = int(value)
        if choices is not None and value not in choices:
            raise _fail(path, f"must be one of {sorted(choices)}, got {value}")
        if value < lo or value > hi:
            raise _fail(path, f"must be in {_num(lo)}..{_num(hi)}, got {value}")
        return value

    return _Codec(check, check, None, "int", lim.describe())


def _float_codec(lim: Limits) -> _Codec:
    lo = -math.inf if lim.ge is None else float(lim.ge)
    hi = math.inf if lim.le is None else float(lim.le)

    def check(value: Any, path: str) -> float:
        if type(value) is not float:
            # Integers are accepted (another encoder may shrink 1.0 to 1).
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _fail(path, f"must be a number, got {_type_label(value)}")
            try:
                value = float(value)
            except OverflowError as exc:
                raise _fail(path, "is out of float64 range") from exc
        if not math.isfinite(value):
            raise _fail(path, f"must be finite, got {value}")
        if value < lo or value > hi:
            raise _fail(path, f"must be in {_num(lo)}..{_num(hi)}, got {value}")
        return value

    return _Codec(check, check, None, "float", lim.describe())


def _bool_check(value: Any, path: str) -> bool:
    if type(value) is not bool:
        raise _fail(path, f"must be a boolean, got {_type_label(value)}")
    return value


# --- composite codecs ---------------------------------------------------------


def _optional_codec(inner: _Codec) -> _Codec:
    def check(value: Any, path: str) -> Any:
        return None if value is None else inner.check(value, path)

    def decode(value: Any, path: str) -> Any:
        return None if value is None else inner.decode(value, path)

    encode = inner.encode
    return _Codec(check, decode, encode, f"{inner.type_name}?", inner.limits)


def _each(fn: CheckFn, values: list[Any], path: str) -> list[Any]:
    """Apply ``fn`` to every item; only on failure pay for exact ``path[i]`` names."""
    try:
        return [fn(v, path) for v in values]
    except SchemaError:
        for i, v in enumerate(values):
            fn(v, f"{path}[{i}]")  # raises again, naming the item
        raise


def _list_codec(item: _Codec, lim: Limits) -> _Codec:
    if lim.max_items is None:
        raise TypeError("list fields need Limits(max_items=...)")
    max_items, min_items = lim.max_items, lim.min_items

    def _size(value: Any, path: str) -> None:
        n = len(value)
        if n > max_items or n < min_items:
            raise _fail(path, f"must have {min_items}..{max_items} items, got {n}")

    def check(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            if not isinstance(value, tuple):
                raise _fail(path, f"must be a list, got {_type_label(value)}")
            value = list(value)
        _size(value, path)
        out = _each(item.check, value, path)
        return value if all(a is b for a, b in zip(out, value, strict=True)) else out

    def decode(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(path, f"must be a list, got {_type_label(value)}")
        _size(value, path)
        return _each(item.decode, value, path)

    item_encode = item.encode
    encode: EncodeFn = None
    if item_encode is not None:
        enc = item_encode

        def encode(value: Any) -> Any:
            return [enc(v) for v in value]

    limits = lim.describe()
    if item.limits:
        limits += f"; each {item.limits}"
    return _Codec(check, decode, encode, f"list[{item.type_name}]", limits)


def _record_codec(cls: type[Message]) -> _Codec:
    def check(value: Any, path: str) -> Any:
        if not isinstance(value, cls):
            raise _fail(path, f"must be a {cls.__name__}, got {_type_label(value)}")
        return value  # already validated when it was built

    def decode(value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _fail(path, f"must be a map ({cls.__name__}), got {_type_label(value)}")
        return cls._decode_body(value, path + ".")

    def encode(value: Any) -> Any:
        return value.to_body()

    return _Codec(check, decode, encode, cls.__name__, "")


def _compile_type(tp: Any, where: str) -> _Codec:
    lim = Limits()
    if get_origin(tp) is Annotated:
        tp, *meta = get_args(tp)
        found = [m for m in meta if isinstance(m, Limits)]
        if found:
            lim = found[0]
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1 or len(get_args(tp)) != 2:
            raise TypeError(f"{where}: only `X | None` unions are supported")
        return _optional_codec(_compile_type(Annotated[args[0], lim], where))
    if origin is list:
        (item_tp,) = get_args(tp)
        return _list_codec(_compile_type(item_tp, where + "[]"), lim)
    if tp is str:
        return _str_codec(lim)
    if tp is bytes:
        return _bytes_codec(lim)
    if tp is bool:
        return _Codec(_bool_check, _bool_check, None, "bool", "")
    if tp is int:
        return _int_codec(lim)
    if tp is float:
        return _float_codec(lim)
    if isinstance(tp, type) and issubclass(tp, Message):
        return _record_codec(tp)
    raise TypeError(f"{where}: unsupported field type {tp!r}")


def _schema_of(cls: type[Message]) -> _CompiledSchema:
    """Compile (once) and return the field table of a schema class."""
    compiled = _compiled.get(cls)
    if compiled is not None:
        return compiled
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a @dataclass(frozen=True, kw_only=True)")
    hints = get_type_hints(cls, include_extras=True)
    fields: list[_Field] = []
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            raise TypeError(f"{cls.__name__}.{f.name}: field names may not start with '_'")
        codec = _compile_type(hints[f.name], f"{cls.__name__}.{f.name}")
        if f.default is not dataclasses.MISSING:
            value = f.default
            fields.append(_Field(f.name, codec, False, lambda v=value: v, value))
        elif f.default_factory is not dataclasses.MISSING:
            factory = f.default_factory
            fields.append(_Field(f.name, codec, False, factory, factory()))
        else:
            fields.append(_Field(f.name, codec, True, _no_default, None))
    label = getattr(cls, "TYPE", "") or cls.__name__
    encoders = tuple(
        (f.name, f.codec.encode) for f in sorted(fields, key=lambda f: f.name.encode())
    )
    decoders = tuple((f.name, f.codec.decode, f.required, f.default_factory) for f in fields)
    compiled = _CompiledSchema(
        label, tuple(fields), encoders, decoders, frozenset(f.name for f in fields)
    )
    _compiled[cls] = compiled
    return compiled


def _no_default() -> Any:
    raise AssertionError("required fields have no default")


class Message:
    """Base class of every schema: frozen, validated, versionable body.

    Top-level messages set ``TYPE`` (the envelope's ``msg_type``) and are
    registered in :data:`message_types`; nested records (``ModelInfo``,
    ``ChatMessage``...) leave it empty and travel inside a parent body.
    """

    TYPE: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        msg_type = cls.__dict__.get("TYPE", "")
        if msg_type:
            other = message_types.get(msg_type)
            same = other is not None and (other.__module__, other.__qualname__) == (
                cls.__module__,
                cls.__qualname__,
            )  # the same class re-executed (module reload) may re-register
            if other is not None and not same:
                raise TypeError(f"message type {msg_type!r} already used by {other.__name__}")
            message_types[msg_type] = cls

    def __post_init__(self) -> None:
        schema = _schema_of(type(self))
        try:
            for f in schema.fields:
                value = getattr(self, f.name)
                checked = f.codec.check(value, f.name)
                if checked is not value:
                    object.__setattr__(self, f.name, checked)  # normalised (e.g. int -> float)
            self._check()
        except SchemaError as exc:
            _labelled(exc, schema.label)
            raise

    def _check(self) -> None:
        """Cross-field rules; override and raise :class:`SchemaError`."""

    def to_body(self) -> dict[str, Any]:
        """The wire body: a map with keys in canonical (sorted) order."""
        body: dict[str, Any] = {}
        for name, encode in _schema_of(type(self)).encoders:
            value = getattr(self, name)
            if value is None:
                continue  # optional and absent
            body[name] = value if encode is None else encode(value)
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """Parse and validate a received body (unknown keys are ignored)."""
        try:
            return cls._decode_body(body, "")
        except SchemaError as exc:
            _labelled(exc, _schema_of(cls).label)
            raise

    @classmethod
    def _decode_body(cls, body: Mapping[str, Any], prefix: str) -> Self:
        schema = _schema_of(cls)
        if not isinstance(body, dict | Mapping):
            raise SchemaError(f"body must be a map, got {_type_label(body)}", field=prefix)
        required = body.get(REQUIRED_KEY)
        if required is not None:
            _check_required(required, schema, prefix)
        obj = cls.__new__(cls)
        values = obj.__dict__  # frozen: fill the instance dict directly, bypassing __init__
        for name, decode, required_field, default_factory in schema.decoders:
            raw = body.get(name, _MISSING)
            if raw is _MISSING:
                if required_field:
                    path = prefix + name
                    raise SchemaError(f"required field {path!r} is missing", field=path)
                values[name] = default_factory()
            else:
                values[name] = decode(raw, prefix + name if prefix else name)
        obj._check()
        return obj

    @classmethod
    def fields_info(cls) -> tuple[FieldInfo, ...]:
        """Field names, types, defaults and limits, in declaration order."""
        return tuple(
            FieldInfo(f.name, f.codec.type_name, f.required, f.default_repr, f.codec.limits)
            for f in _schema_of(cls).fields
        )


def _check_required(required: Any, schema: _CompiledSchema, prefix: str) -> None:
    path = prefix + REQUIRED_KEY
    if not isinstance(required, list) or len(required) > MAX_REQUIRED_NAMES:
        raise SchemaError(
            f"{path!r} must be a list of at most {MAX_REQUIRED_NAMES} names", field=path
        )
    for name in required:
        if not isinstance(name, str):
            raise SchemaError(f"{path!r} must hold strings", field=path)
        if name not in schema.names:
            raise UnknownRequiredField(
                f"the sender requires field {prefix + name!r}, which this "
                "version does not understand; upgrade peermind to talk to this peer",
                field=prefix + name,
            )


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes without splitting a character.

    String limits count UTF-8 bytes, so ``text[:n]`` is not enough for
    non-ASCII text (e.g. an exception message put into ``TaskRefusal.detail``).
    """
    encoded = text.encode("utf-8", "replace")  # a lone surrogate becomes "?"
    return encoded[:max_bytes].decode("utf-8", "ignore")


def check_field(condition: bool, field: str, problem: str) -> None:
    """Raise a :class:`SchemaError` for a failed cross-field rule (in ``_check``)."""
    if not condition:
        raise _fail(field, problem)


def _labelled(exc: SchemaError, label: str) -> None:
    """Prefix the schema's name once, at the public boundary."""
    text = str(exc)
    if not text.startswith(label + ": "):
        exc.args = (f"{label}: {text}",)
