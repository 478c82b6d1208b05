"""Automatic domain randomization (ADR), the range-update rule alone: no simulator, no policy.

OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand" (arXiv 1910.07113), section 5 and
Algorithm 1. Each randomized parameter i has a range [phi_L_i, phi_H_i] that starts at its
nominal value and grows where the policy copes:

- Each episode draws every parameter uniformly over its current range, except that with
  probability ``boundary_fraction`` (the paper's boundary sampling probability p_b; 0.5 there)
  one parameter i and one of its two boundaries are picked uniformly and the parameter is
  pinned at that boundary (lambda_i = phi_L_i or phi_H_i).
- Only such boundary episodes are judged: the episode's performance (here its success, 0 or 1)
  joins that boundary's buffer D_L_i or D_H_i.
- When a buffer holds ``buffer_size`` results (the paper's m) its mean p is taken and the
  buffer cleared. p >= ``t_high`` (t_H) widens that boundary by ``delta`` (Delta): phi_H += Delta
  or phi_L -= Delta, clipped at the parameter's hard limits. p <= ``t_low`` (t_L) narrows it by
  Delta, never past the nominal range it started from. Otherwise it stays.

Here a range may start at a nominal interval rather than a point (the base profile's own range,
by default): the boundaries then start at its ends and narrowing stops at them. In the paper the
policy trains while the ranges grow; ``studies.adr_run`` runs the rule against a fixed trained
policy, so the ranges grow to where that policy still succeeds.

Every draw comes from the caller's generator, a fixed amount per episode, so a run repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from randomizers import Profile, parse_profile

LOW, HIGH = "low", "high"
SIDES = (LOW, HIGH)
WIDEN, NARROW, KEEP = "widen", "narrow", "keep"
DIGITS = 12  # boundaries are rounded so repeated steps of delta stay readable (0.6, not 0.6000000000000001)


@dataclass(frozen=True)
class AdrParam:
    """One randomized range of a profile, by dotted path (``randomizers.lighting.intensity``)."""

    path: str
    delta: float  # how far one update moves a boundary
    nominal_low: float  # the range starts at [nominal_low, nominal_high]; narrowing never passes it
    nominal_high: float
    limit_low: float  # widening never passes the hard limits
    limit_high: float

    def __post_init__(self):
        if not self.delta > 0:
            raise ValueError(f"{self.path}: delta must be positive, got {self.delta}")
        if not self.limit_low <= self.nominal_low <= self.nominal_high <= self.limit_high:
            raise ValueError(f"{self.path}: expected limit_low <= nominal_low <= nominal_high <= limit_high, got "
                             f"{self.limit_low}, {self.nominal_low}, {self.nominal_high}, {self.limit_high}")

    @property
    def profile_path(self) -> str:
        return self.path.removeprefix("randomizers.")


@dataclass(frozen=True)
class AdrConfig:
    boundary_fraction: float = 0.5  # share of episodes that pin one parameter at a boundary
    buffer_size: int = 10  # results per boundary before it is judged
    t_low: float = 0.2  # mean success at or below: narrow
    t_high: float = 0.5  # mean success at or above: widen
    episodes: int = 200

    def __post_init__(self):
        if not 0 < self.boundary_fraction <= 1:
            raise ValueError(f"boundary_fraction must be in (0, 1], got {self.boundary_fraction}")
        if self.buffer_size < 1 or self.episodes < 1:
            raise ValueError("buffer_size and episodes must be at least 1")
        if not 0 <= self.t_low < self.t_high <= 1:
            raise ValueError(f"expected 0 <= t_low < t_high <= 1, got t_low {self.t_low}, t_high {self.t_high}")


@dataclass(frozen=True)
class Boundary:
    index: int  # which parameter
    side: str  # LOW or HIGH


@dataclass(frozen=True)
class EpisodeDraw:
    """What one episode draws from: a range per parameter (the pinned one: its boundary, twice)."""

    ranges: tuple[tuple[float, float], ...]
    boundary: Boundary | None


@dataclass(frozen=True)
class BoundaryUpdate:
    """A full buffer judged: the boundary, its buffer's mean and what became of it."""

    episode: int
    path: str
    side: str
    mean: float
    action: str  # WIDEN, NARROW or KEEP
    old: float
    new: float

    def to_dict(self) -> dict:
        return {"episode": self.episode, "path": self.path, "side": self.side, "mean": self.mean,
                "action": self.action, "old": self.old, "new": self.new, "changed": self.old != self.new}


@dataclass
class AdrState:
    """The current ranges and each boundary's buffer of results."""

    params: tuple[AdrParam, ...]
    config: AdrConfig
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    buffers: dict[tuple[int, str], list[float]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.params:
            raise ValueError("ADR needs at least one parameter")
        if not self.low:
            self.low = [p.nominal_low for p in self.params]
            self.high = [p.nominal_high for p in self.params]
        self.buffers = {(i, side): list(self.buffers.get((i, side), ()))
                        for i in range(len(self.params)) for side in SIDES}

    # -- one episode -----------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> EpisodeDraw:
        """The episode's ranges: with probability boundary_fraction one parameter pinned at one boundary."""
        pin, index, side = rng.random(), int(rng.integers(len(self.params))), rng.random()  # always three draws
        ranges = [(low, high) for low, high in zip(self.low, self.high)]
        if pin >= self.config.boundary_fraction:
            return EpisodeDraw(tuple(ranges), None)
        boundary = Boundary(index, LOW if side < 0.5 else HIGH)
        value = self.boundary_value(boundary)
        ranges[index] = (value, value)
        return EpisodeDraw(tuple(ranges), boundary)

    def boundary_value(self, boundary: Boundary) -> float:
        return (self.low if boundary.side == LOW else self.high)[boundary.index]

    def record(self, draw: EpisodeDraw, performance: float, episode: int) -> BoundaryUpdate | None:
        """Add a boundary episode's result to its buffer; judge the buffer when full (None otherwise)."""
        if draw.boundary is None:
            return None  # episodes over the whole ranges train in the paper; they judge nothing
        boundary = draw.boundary
        buffer = self.buffers[(boundary.index, boundary.side)]
        buffer.append(float(performance))
        if len(buffer) < self.config.buffer_size:
            return None
        mean = float(np.mean(buffer))
        buffer.clear()
        old = self.boundary_value(boundary)
        if mean >= self.config.t_high:
            action, new = WIDEN, self._moved(boundary, widen=True)
        elif mean <= self.config.t_low:
            action, new = NARROW, self._moved(boundary, widen=False)
        else:
            action, new = KEEP, old
        (self.low if boundary.side == LOW else self.high)[boundary.index] = new
        return BoundaryUpdate(episode, self.params[boundary.index].path, boundary.side, mean, action, old, new)

    def _moved(self, boundary: Boundary, widen: bool) -> float:
        param, value = self.params[boundary.index], self.boundary_value(boundary)
        if boundary.side == LOW:
            moved = max(value - param.delta, param.limit_low) if widen else min(value + param.delta, param.nominal_low)
        else:
            moved = min(value + param.delta, param.limit_high) if widen else max(value - param.delta, param.nominal_high)
        return round(moved, DIGITS)

    # -- reading and saving ------------------------------------------------------------------
    def ranges(self) -> dict[str, tuple[float, float]]:
        return {p.path: (low, high) for p, low, high in zip(self.params, self.low, self.high)}

    def entropy(self) -> float:
        """The paper's ADR entropy, mean log width in nats per parameter (-inf while a range is a point)."""
        widths = [high - low for low, high in zip(self.low, self.high)]
        return float(np.mean([math.log(w) if w > 0 else -math.inf for w in widths]))

    def to_dict(self) -> dict:
        return {"ranges": {path: {"low": low, "high": high} for path, (low, high) in self.ranges().items()},
                "buffers": {f"{self.params[i].path}.{side}": list(values)
                            for (i, side), values in self.buffers.items()}}

    @classmethod
    def from_dict(cls, params: tuple[AdrParam, ...], config: AdrConfig, data: dict) -> AdrState:
        ranges = data["ranges"]
        low = [float(ranges[p.path]["low"]) for p in params]
        high = [float(ranges[p.path]["high"]) for p in params]
        buffers = {(i, side): [float(v) for v in data["buffers"][f"{p.path}.{side}"]]
                   for i, p in enumerate(params) for side in SIDES}
        return cls(params, config, low, high, buffers)


def apply_ranges(profile: Profile, params: tuple[AdrParam, ...], ranges, name: str | None = None) -> Profile:
    """``profile`` with each parameter's range replaced by ``ranges`` (same order), validated once."""
    data = profile.model_dump(mode="json")
    if name is not None:
        data["name"] = name
    for param, (low, high) in zip(params, ranges):
        *parents, leaf = param.profile_path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = {"low": float(low), "high": float(high)}
    return parse_profile(data, "randomizers")


def run_rule(state: AdrState, rng: np.random.Generator, performance, episodes: int,
             first_episode: int = 0) -> list[BoundaryUpdate]:
    """The rule alone over ``episodes``: ``performance(draw, episode) -> float`` stands in for an episode."""
    updates = []
    for episode in range(first_episode, first_episode + episodes):
        draw = state.draw(rng)
        update = state.record(draw, performance(draw, episode), episode)
        if update is not None:
            updates.append(update)
    return updates
