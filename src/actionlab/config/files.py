"""Config files: the shipped configs, ``base:`` inheritance, and ``a.b=c`` overrides.

A YAML config may start from another one::

    base: tsn_r50_3seg_sgd50e_slip-rgb.yaml   # relative to this file, or a shipped config
    data: {dataset: synth, size: [32, 32]}
    model:
      init: {_replace_: true}                 # this mapping replaces the base's, not merged

Mappings are merged key by key (recursively); lists and scalars replace the base's value; a
mapping holding ``_replace_: true`` replaces the base's mapping whole. Bases may have bases; a
cycle or a missing base is an :class:`~actionlab.errors.InputError` naming the files. What comes
out is one flat mapping: :func:`actionlab.config.load_config` checks it, and a run's
``config.yaml`` holds it fully merged, without ``base``.

The experiment configs of the study ship inside the package (:data:`CONFIGS`), so an installed
wheel finds them; :func:`resolve_config` accepts a path or a shipped config's bare name.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from actionlab.errors import InputError

# Setuptools installs package data as plain files, so the shipped configs are a real folder.
CONFIGS = Path(str(resources.files("actionlab").joinpath("configs")))
BASE_KEY = "base"
REPLACE_KEY = "_replace_"
FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def shipped_configs() -> list[str]:
    """The names (file stems) of the configs shipped with the package, sorted."""
    return sorted(p.stem for p in CONFIGS.glob("*.yaml"))


def resolve_config(path: str | Path) -> Path:
    """The YAML file a config argument names: a path, or a shipped config's bare name.

    ``resnetlike_frame_adam50e_stanford40-rgb`` and ``resnetlike_frame_adam50e_stanford40-rgb.yaml``
    both name the shipped file; anything with a folder in it is only ever a path.

    Raises:
        InputError: when neither a file nor a shipped config has that name (close names listed).
    """
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if path.parent == Path("."):
        for name in (path.name, f"{path.name}.yaml"):
            if (CONFIGS / name).is_file():
                return CONFIGS / name
    close = difflib.get_close_matches(path.stem, shipped_configs(), n=3, cutoff=0.5)
    hint = f"; shipped configs with close names: {', '.join(close)}" if close else ""
    raise InputError(f"{path}: no such config file, nor a shipped config of that name{hint}")


def read_mapping(path: Path) -> dict[str, Any]:
    """One YAML file's top-level mapping (empty for an empty file), with one-line errors."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text file (byte {exc.start}): "
                         f"a config is YAML text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    return raw


def merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: mappings merge recursively, everything else replaces.

    A mapping of ``child`` holding ``_replace_: true`` replaces the base's mapping whole.
    Neither argument is changed.
    """
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict):
            value = dict(value)
            replace = value.pop(REPLACE_KEY, False)
            if not replace and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
                continue
            out[key] = merge({}, value)  # nested markers are resolved too
        else:
            out[key] = copy.deepcopy(value)
    return out


def _base_file(path: Path, base: Any) -> Path:
    if not isinstance(base, str) or not base.strip():
        raise InputError(f"{path}: base must be a file name, got {base!r}")
    candidate = path.parent / base
    if candidate.is_file():
        return candidate
    if Path(base).parent == Path(".") and (CONFIGS / base).is_file():
        return CONFIGS / base  # a user's config on top of a shipped one
    raise InputError(f"{path}: base {base!r} not found (looked for {candidate} and a shipped "
                     f"config of that name)")


def read_config_file(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file with its ``base:`` chain merged in: one flat mapping, without ``base``.

    Raises:
        InputError: for an unreadable or non-YAML file, a missing base, or a cycle of bases.
    """
    path = Path(path)
    key = path.resolve()
    if key in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, key))
        raise InputError(f"{path}: the bases form a cycle: {cycle}")
    raw = read_mapping(path)
    if BASE_KEY not in raw:
        return merge({}, raw)
    inherited = read_config_file(_base_file(path, raw.pop(BASE_KEY)), (*_chain, key))
    inherited.pop("name", None)  # a name belongs to its file: the default is this file's stem
    return merge(inherited, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b=c"`` into ``(["a", "b"], value)``, the value parsed as YAML.

    Raises:
        InputError: when there is no ``=`` or the key is empty.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not p for p in key.split(".")):
        raise InputError(f"override {text!r}: expected key.path=value, e.g. optim.lr=1e-4")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise InputError(f"override {text!r}: the value is not valid YAML ({exc})") from None
    if isinstance(parsed, str) and FLOAT.fullmatch(parsed.strip()):
        parsed = float(parsed)  # `1e-4`: a number, though YAML 1.1 reads it as a string
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set each ``a.b=c`` in a copy of ``raw`` (keys are checked later, by ``from_dict``)."""
    out = copy.deepcopy(raw) if raw else {}
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            child = node.get(k)
            if child is None:
                child = node[k] = {}
            if not isinstance(child, dict):
                raise InputError(f"override {text!r}: {k!r} is not a section")
            node = child
        node[keys[-1]] = value
    return out


def keyword_overrides(overrides: dict[str, Any]) -> list[str]:
    """Python keywords as ``a.b=c`` overrides: ``{"train__epochs": 2}`` -> ``["train.epochs=2"]``.

    An ``overrides`` key holding a list of ``a.b=c`` strings is taken as it is, first.
    """
    overrides = dict(overrides)
    out = [str(o) for o in overrides.pop("overrides", None) or ()]
    for key, value in overrides.items():
        text = "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        out.append(f"{key.replace('__', '.')}={text}")
    return out
