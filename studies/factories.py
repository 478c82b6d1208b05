"""Optuna samplers and pruners by the names a study file uses, with their options checked.

``[sampler] name = "tpe"``, ``options = { n_startup_trials = 5, constant_liar = true }``: the
options are the keyword arguments of the Optuna class; unknown ones and values the class
refuses fail before any trial, naming ``sampler.options``. The seed is ``sampler.seed``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna

from workbench.errors import UserError

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "nsga3": optuna.samplers.NSGAIIISampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
}
SINGLE_OBJECTIVE_SAMPLERS = {"cmaes"}
PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}
# Options a study file cannot set this way: they have their own place or take Python objects.
RESERVED = {"seed": "sampler.seed", "constraints_func": "[[constraints]]"}
NEEDS = {"cmaes": "cmaes", "gp": "scipy"}


def _check_options(cls: type, options: dict, where: str, source: str) -> None:
    accepted = inspect.signature(cls).parameters
    for key, value in options.items():
        if key in RESERVED:
            raise UserError(f"{source}: {where}.options.{key}: set it with {RESERVED[key]}")
        if key not in accepted:
            raise UserError(f"{source}: {where}.options.{key}: unknown option of optuna {cls.__name__} "
                            f"(it takes: {', '.join(k for k in accepted if k not in RESERVED)})")
        if isinstance(value, dict):
            raise UserError(f"{source}: {where}.options.{key} = {value!r}: tables are not option values")


def _construct(cls: type, kwargs: dict, where: str, source: str, name: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs)
    except ImportError as error:
        package = NEEDS.get(name, getattr(error, "name", None) or "a package")
        raise UserError(f"{source}: {where}.name = {name!r} needs the package {package} (pip install {package})") from None
    except (TypeError, ValueError) as error:
        raise UserError(f"{source}: {where}.options: optuna {cls.__name__} refuses them: {error}") from None


def make_sampler(name: str, options: dict, seed: int | None, objectives: int,
                 source: str = "study") -> optuna.samplers.BaseSampler:
    if name not in SAMPLERS:
        raise UserError(f"{source}: sampler.name = {name!r}: unknown sampler (expected one of {', '.join(SAMPLERS)})")
    if objectives > 1 and name in SINGLE_OBJECTIVE_SAMPLERS:
        raise UserError(f"{source}: sampler.name = {name!r} optimizes one objective; this study has {objectives} "
                        "(use tpe, nsga2, nsga3, gp, random or qmc)")
    cls = SAMPLERS[name]
    _check_options(cls, options, "sampler", source)
    kwargs = dict(options)
    if "seed" in inspect.signature(cls).parameters:
        kwargs["seed"] = seed
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401  (Optuna imports it lazily, at the first trial)
        except ImportError:
            raise UserError(f"{source}: sampler.name = 'cmaes' needs the package cmaes (pip install cmaes)") from None
    return _construct(cls, kwargs, "sampler", source, name)


def make_pruner(name: str, options: dict, objectives: int, source: str = "study") -> optuna.pruners.BasePruner:
    if name not in PRUNERS:
        raise UserError(f"{source}: pruner.name = {name!r}: unknown pruner (expected one of {', '.join(PRUNERS)})")
    if objectives > 1 and name != "none":
        raise UserError(f"{source}: pruner.name = {name!r}: Optuna's pruners work on single-objective studies only "
                        f"and this study has {objectives} objectives; use [early_stop] (rule = \"dominated\" or "
                        "\"median\") or one objective with the others as [[constraints]]")
    cls = PRUNERS[name]
    _check_options(cls, options, "pruner", source)
    return _construct(cls, dict(options), "pruner", source, name)
