"""Every profile parameter by dotted path: read, set (validated), diff and print.

A study names what it tunes as `lighting.intensity.high`; `set_path` returns
a new profile with that value, validated like a file, and an unknown path
fails with the path, the unknown part and the fields that do exist.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w
from pydantic import BaseModel

from randomizers.config import Profile, ProfileError, parse_profile


def _walk(data: Any, path: str, source: str):
    """The value at `path` in nested dicts, or ProfileError naming the first unknown part."""
    node, walked = data, []
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(walked) or "the profile"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "a value, not a table"
            raise ProfileError(f"{source}: {path}: unknown path: no {part!r} in {where} (it has: {known})")
        node = node[part]
        walked.append(part)
    return node


def get_path(profile: Profile, path: str, source: str | None = None) -> Any:
    """The value at a dotted path, as plain data (a table is a dict)."""
    return _walk(profile.model_dump(mode="json"), path, source or f"profile {profile.name!r}")


def set_path(profile: Profile, path: str, value: Any, source: str | None = None) -> Profile:
    """A new, validated profile with the value at `path` replaced."""
    source = source or f"profile {profile.name!r}"
    data = profile.model_dump(mode="json")
    _walk(data, path, source)  # the path must exist already: no new keys by typo
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return parse_profile(data, source)


def parse_assignment(text: str) -> tuple[str, Any]:
    """`a.b.c=VALUE` with VALUE read as TOML (numbers, booleans, strings, {low = 1, high = 2})."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise ProfileError(f"--set {text!r}: expected PATH=VALUE, e.g. lighting.intensity.high=2.0")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word is a string
    return path.strip(), value


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts by dotted path; lists are leaves."""
    if isinstance(data, dict):
        leaves = {}
        for key, value in data.items():
            leaves.update(flatten(value, f"{prefix}{key}."))
        return leaves
    return {prefix[:-1]: data}


def diff_profiles(first: Profile, second: Profile) -> list[tuple[str, Any, Any]]:
    """(path, first value, second value) for every parameter that differs, in path order; None: absent."""
    a, b = flatten(first.model_dump(mode="json")), flatten(second.model_dump(mode="json"))
    return [(path, a.get(path), b.get(path)) for path in sorted(a.keys() | b.keys()) if a.get(path) != b.get(path)]


def format_profile(profile: Profile) -> str:
    """The whole profile, defaults included, as TOML; ranges and weights as inline tables."""
    lines: list[str] = []
    _emit_table(profile.model_dump(mode="json"), [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_inline(value: Any) -> bool:
    return isinstance(value, dict) and not any(isinstance(v, dict) for v in value.values())


def _emit_table(table: dict, path: list[str], lines: list[str]) -> None:
    simple = {k: v for k, v in table.items() if not isinstance(v, dict) or _is_inline(v)}
    nested = {k: v for k, v in table.items() if k not in simple}
    if path:
        lines += ["", f"[{'.'.join(path)}]"]
    lines += [f"{key} = {_literal(value)}" for key, value in simple.items()]
    for key, value in nested.items():
        _emit_table(value, path + [key], lines)


def _literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_literal(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):].strip()
