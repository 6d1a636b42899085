"""Typed loading of TOML tables into frozen dataclasses.

Each site section is a dataclass whose field types drive the checks: unknown
keys, wrong types and values outside a ``Literal`` are errors that name the
dotted key, the value found and what would be valid.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from eximctl.errors import SiteError

T = TypeVar("T")


def load_table(cls: type[T], table: object, key: str) -> T:
    """Build dataclass ``cls`` from a TOML table found at ``key``."""
    if not isinstance(table, dict):
        raise SiteError(key, f"expected a table, found {_describe(table)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - set(fields))
    if unknown:
        valid = ", ".join(sorted(fields))
        raise SiteError(
            _join(key, unknown[0]), f"unknown key; valid keys here are: {valid}"
        )

    values: dict[str, Any] = {}
    for name, field in fields.items():
        sub_key = _join(key, name)
        if name in table:
            values[name] = convert(hints[name], table[name], sub_key)
        elif _has_default(field):
            continue
        else:
            raise SiteError(sub_key, "missing required key")
    return cls(**values)


def convert(hint: Any, value: object, key: str) -> Any:
    """Check ``value`` against the type ``hint`` and convert nested tables."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return load_table(hint, value, key)  # type: ignore[arg-type]
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise SiteError(key, f"invalid value {value!r}; use one of {choices}")
        return value
    if origin in (Union, types.UnionType):
        return _convert_optional(hint, value, key)
    if origin is tuple:
        return _convert_list(get_args(hint)[0], value, key)
    if origin is dict:
        return _convert_mapping(get_args(hint)[1], value, key)
    return _convert_scalar(hint, value, key)


def _convert_optional(hint: Any, value: object, key: str) -> Any:
    members = [a for a in get_args(hint) if a is not type(None)]
    if len(members) != 1:
        raise TypeError(f"unsupported union at {key}: {hint}")
    return convert(members[0], value, key)


def _convert_list(item: Any, value: object, key: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise SiteError(key, f"expected a list, found {_describe(value)}")
    return tuple(convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))


def _convert_mapping(item: Any, value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SiteError(key, f"expected a table, found {_describe(value)}")
    return {k: convert(item, v, _join(key, k)) for k, v in value.items()}


def _convert_scalar(hint: Any, value: object, key: str) -> Any:
    # bool is a subclass of int, so reject it explicitly where an int is wanted.
    if hint is int and isinstance(value, bool):
        raise SiteError(key, f"expected an integer, found {_describe(value)}")
    if not isinstance(value, hint):
        raise SiteError(key, f"expected {_type_name(hint)}, found {_describe(value)}")
    return value


def _has_default(field: dataclasses.Field[Any]) -> bool:
    return (
        field.default is not dataclasses.MISSING
        or field.default_factory is not dataclasses.MISSING
    )


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _type_name(hint: Any) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _describe(value: object) -> str:
    return f"{_type_name(type(value))} {value!r}"
