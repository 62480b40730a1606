"""Typed stage configs from TOML: unknown keys and wrong types are errors, never ignored."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from curate.errors import ConfigError

T = TypeVar("T")


def load_toml(path: str | Path) -> dict:
    p = Path(path)
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError("config file does not exist", p) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file ({e.strerror})", p) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML ({e})", p) from e


def build(cls: type[T], values: dict[str, Any], where: str, path: object = None) -> T:
    """`cls(**values)` after checking every key exists on the dataclass and every value's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"unknown key '{key}' in {where}; allowed: {', '.join(sorted(fields))}", path
            )
        if not _type_ok(value, hints[key]):
            raise ConfigError(
                f"{where}.{key} must be {_type_name(hints[key])}, got {value!r}", path
            )
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as e:
            raise ConfigError(f"{where}: {e}", path) from e
    return obj


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is dict:
        _, inner = typing.get_args(hint) or (Any, Any)
        return isinstance(value, dict) and all(
            isinstance(k, str) and _type_ok(v, inner) for k, v in value.items()
        )
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(hint) or (Any,)
        return isinstance(value, (list, tuple)) and all(_type_ok(v, inner) for v in value)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


def as_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


def canonical_sha256(value: Any) -> str:
    """sha256 of canonical JSON: the fingerprint of a resolved config."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
