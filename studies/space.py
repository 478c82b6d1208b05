"""The search space of a study: dotted paths into the trial config, each a range or choices.

In a study file, ``[search]`` holds one entry per parameter::

    [search]
    randomizers.lighting.intensity.high = { low = 0.5, high = 3.0, log = true }
    randomizers.image.enabled = { choices = [true, false] }
    randomizers.image.noise.p = { low = 0.0, high = 1.0, when = { "randomizers.image.enabled" = true } }
    "cem.samples" = { low = 8, high = 128, step = 8 }

TOML turns dotted keys into nested tables; they are flattened back into dotted paths
down to the first table that is a parameter (one with ``low``/``high`` values or
``choices``). A range is an integer range when the config value it sets is an integer
(or, when that is unknown, when both ends are integers). ``when`` makes a parameter
conditional: it is suggested only when each named parameter (itself searched) took
the given value, or one of a list of values. Parameters are suggested define-by-run,
conditions first, under their dotted path as the Optuna parameter name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from workbench.errors import UserError

RANGE_KEYS = ("low", "high", "log", "step", "when")
CHOICE_KEYS = ("choices", "when")
SPEC_KEYS = frozenset(RANGE_KEYS + CHOICE_KEYS)
Scalar = bool | int | float | str


@dataclass(frozen=True)
class Param:
    path: str
    kind: str  # "float", "int" or "categorical"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Scalar, ...] | None = None
    when: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()

    def extremes(self) -> list[Scalar]:
        """The values that bound what this parameter can take: both ends, or every choice."""
        if self.choices is not None:
            return list(self.choices)
        return [self.low, self.high] if self.low != self.high else [self.low]

    def active(self, values: dict[str, Any]) -> bool:
        return all(path in values and _member(values[path], allowed) for path, allowed in self.when)

    def suggest(self, trial: optuna.trial.BaseTrial) -> Scalar:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.path, float(self.low), float(self.high), step=self.step, log=self.log)

    def describe(self) -> str:
        if self.kind == "categorical":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = f"{self.kind} in [{self.low}, {self.high}]" + (" log" if self.log else "") + (
                f" step {self.step}" if self.step else "")
        if self.when:
            text += " when " + " and ".join(f"{p} in {list(v)}" for p, v in self.when)
        return text


def _member(value: Any, allowed: tuple) -> bool:
    # True == 1 in Python; a condition on a boolean must not match the integer 1.
    return any(value == a and type(value) is type(a) or (
        isinstance(value, float) and isinstance(a, int) and not isinstance(a, bool) and value == a) for a in allowed)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_param(table: dict) -> bool:
    return any(key in SPEC_KEYS and not isinstance(value, dict) for key, value in table.items())


def flatten_search(search: dict, source: str) -> list[tuple[str, dict]]:
    """(dotted path, parameter table) for every parameter, in file order."""
    found: list[tuple[str, dict]] = []

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if not isinstance(value, dict):
                raise UserError(f"{source}: search.{path} = {value!r}: expected a parameter table, "
                                "{ low = ..., high = ... } or { choices = [...] }")
            if _is_param(value):
                found.append((path, value))
            else:
                if not value:
                    raise UserError(f"{source}: search.{path}: empty table; expected a parameter "
                                    "{ low = ..., high = ... } or { choices = [...] }")
                walk(value, path)

    walk(search, "")
    return found


def parse_param(path: str, table: dict, source: str, value_type: type | None = None) -> Param:
    """One parameter table, checked; ``value_type`` is the type of the config value it sets, if known."""
    where = f"{source}: search.{path}"
    unknown = sorted(set(table) - SPEC_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r} (a parameter has low, high, log, step, "
                        "choices and when)")
    when = _parse_when(table.get("when", {}), where)
    if "choices" in table:
        extra = sorted(set(table) - set(CHOICE_KEYS))
        if extra:
            raise UserError(f"{where}: {extra[0]!r} does not go with choices (use a range or choices, not both)")
        choices = table["choices"]
        if not isinstance(choices, list) or not choices:
            raise UserError(f"{where}.choices = {choices!r}: expected a non-empty list")
        for choice in choices:
            if not isinstance(choice, (bool, int, float, str)):
                raise UserError(f"{where}.choices: {choice!r} is not a number, boolean or string "
                                "(Optuna's categorical parameters take those only)")
        if len({(type(c), c) for c in choices}) != len(choices):
            raise UserError(f"{where}.choices = {choices!r}: a choice appears twice")
        return Param(path, "categorical", choices=tuple(choices), when=when)

    for key in ("low", "high"):
        if key not in table:
            raise UserError(f"{where}: missing {key!r} (a range needs low and high; a set of values needs choices)")
        if not _is_number(table[key]):
            raise UserError(f"{where}.{key} = {table[key]!r}: expected a number")
    low, high = table["low"], table["high"]
    if low > high:
        raise UserError(f"{where}: low ({low}) is greater than high ({high})")
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"{where}.log = {log!r}: expected true or false")
    step = table.get("step")
    if step is not None and (not _is_number(step) or step <= 0):
        raise UserError(f"{where}.step = {step!r}: expected a positive number")
    if log and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0, got {low}")
    if value_type is bool or value_type is str:
        raise UserError(f"{where}: the config value is a {value_type.__name__}; use choices, not a range")
    if value_type is int:
        is_int = True
    elif value_type is float:
        is_int = False
    else:
        is_int = all(isinstance(v, int) for v in (low, high) if v is not None) and (
            step is None or isinstance(step, int))
    if is_int:
        for key, value in (("low", low), ("high", high), ("step", step)):
            if value is not None and not (isinstance(value, int) or float(value).is_integer()):
                raise UserError(f"{where}.{key} = {value!r}: the config value is an integer")
        low, high = int(low), int(high)
        step = None if step is None else int(step)
        if log and step not in (None, 1):
            raise UserError(f"{where}: log and step do not go together (Optuna samples log ranges without a step)")
        return Param(path, "int", low, high, log, step, when=when)
    if log and step is not None:
        raise UserError(f"{where}: log and step do not go together (Optuna samples log ranges without a step)")
    return Param(path, "float", float(low), float(high), log, None if step is None else float(step), when=when)


def _parse_when(when: Any, where: str) -> tuple[tuple[str, tuple[Scalar, ...]], ...]:
    if not isinstance(when, dict):
        raise UserError(f"{where}.when = {when!r}: expected a table {{ \"other.parameter\" = value }}")
    flat: list[tuple[str, tuple]] = []

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                walk(value, path)
                continue
            values = tuple(value) if isinstance(value, list) else (value,)
            if not values or not all(isinstance(v, (bool, int, float, str)) for v in values):
                raise UserError(f"{where}.when.{path} = {value!r}: expected a value or a list of values")
            flat.append((path, values))

    walk(when, "")
    return tuple(flat)


def order_params(params: list[Param], source: str) -> list[Param]:
    """Conditions before the parameters they govern (file order otherwise); cycles refused."""
    by_path = {p.path: p for p in params}
    for param in params:
        for path, allowed in param.when:
            if path not in by_path:
                raise UserError(f"{source}: search.{param.path}.when: {path!r} is not a searched parameter")
            other = by_path[path]
            if other.choices is not None:
                missing = [v for v in allowed if not _member(v, other.choices)]
                if missing:
                    raise UserError(f"{source}: search.{param.path}.when: {path} never takes {missing[0]!r} "
                                    f"(its choices: {list(other.choices)})")
    ordered: list[Param] = []
    state: dict[str, str] = {}

    def visit(param: Param, chain: tuple[str, ...]) -> None:
        if state.get(param.path) == "done":
            return
        if state.get(param.path) == "visiting":
            raise UserError(f"{source}: search: conditions form a cycle: {' -> '.join(chain + (param.path,))}")
        state[param.path] = "visiting"
        for path, _ in param.when:
            visit(by_path[path], chain + (param.path,))
        state[param.path] = "done"
        ordered.append(param)

    for param in params:
        visit(param, ())
    return ordered


def suggest(trial: optuna.trial.BaseTrial, params: list[Param]) -> dict[str, Scalar]:
    """Define-by-run: the active parameters' values, by dotted path."""
    values: dict[str, Scalar] = {}
    for param in params:
        if param.active(values):
            values[param.path] = param.suggest(trial)
    return values


def condition_values(param: Param, params: list[Param]) -> dict[str, Scalar]:
    """Values of the parameters (recursively) that make ``param`` active: the first allowed of each."""
    by_path = {p.path: p for p in params}
    values: dict[str, Scalar] = {}

    def need(p: Param) -> None:
        for path, allowed in p.when:
            values.setdefault(path, allowed[0])
            need(by_path[path])

    need(param)
    return values
