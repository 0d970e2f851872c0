"""Dotted settings on trees of frozen config dataclasses: ``--set pid.kp=0.05`` and config.yaml.

Every field of every nested config is reachable by its dotted path, with no hand-kept list of
options: :func:`setting_paths` enumerates them, :func:`with_setting` replaces one (the value
parsed as YAML, then checked against the field's annotation; the dataclasses then validate
themselves), and :func:`from_dict` rebuilds a tree from plain data, refusing unknown keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Union

import yaml

from shapo_rl.config import ConfigError


def _hints(obj_or_cls: Any) -> dict[str, Any]:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return typing.get_type_hints(cls)


def setting_paths(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf setting of the dataclass tree ``obj`` as ``{dotted path: value}``."""
    paths: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            paths.update(setting_paths(value, f"{prefix}{f.name}."))
        else:
            paths[f"{prefix}{f.name}"] = value
    return paths


def convert(value: Any, annotation: Any, name: str) -> Any:
    """``value`` (plain data, e.g. parsed YAML) as an instance of ``annotation``, or ConfigError."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return convert(value, option, name)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{name} cannot be {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return tuple(convert(v, args[0], name) for v in value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML reads 1e-5 (no dot) and inf as strings
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, name)
    raise ConfigError(f"{name} has an unsupported type {annotation!r}")


def from_dict(cls: type, data: Any, where: str = "config", nested: dict[str, type] | None = None) -> Any:
    """Rebuild the dataclass ``cls`` from plain data; ``nested`` gives the classes of fields
    annotated ``Any`` (the algorithm's config). Unknown or mistyped keys are a ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    hints, nested = _hints(cls), nested or {}
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"unknown keys in {where}: {', '.join(unknown)}")
    kwargs = {}
    for key, value in data.items():
        name = key if where == "config" else f"{where}.{key}"
        kwargs[key] = from_dict(nested[key], value, name) if key in nested else convert(value, hints[key], name)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def parse_setting(assignment: str) -> tuple[str, Any]:
    """``"pid.kp=0.05"`` -> ``("pid.kp", 0.05)`` (the value read as YAML)."""
    path, sep, text = assignment.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {assignment!r}")
    try:
        return path.strip(), yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"--set {path.strip()}: cannot read the value {text!r}") from None


def with_setting(obj: Any, path: str, value: Any) -> Any:
    """A copy of the dataclass tree ``obj`` with the leaf at dotted ``path`` set to ``value``."""
    known = setting_paths(obj)
    if path not in known:
        near = difflib.get_close_matches(path, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise ConfigError(f"unknown setting {path!r}{hint}")
    return _replace(obj, path.split("."), value, path)


def _replace(obj: Any, parts: list[str], value: Any, path: str) -> Any:
    head, rest = parts[0], parts[1:]
    if rest:
        return dataclasses.replace(obj, **{head: _replace(getattr(obj, head), rest, value, path)})
    return dataclasses.replace(obj, **{head: convert(value, _hints(obj)[head], path)})
