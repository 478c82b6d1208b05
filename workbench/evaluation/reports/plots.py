"""The report's figures, drawn with matplotlib's object API (no pyplot state) into PNG bytes."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from workbench.evaluation.metrics.image_stats import ImageSetStats, per_image_stats
from workbench.evaluation.metrics.opc import ReliabilityCurve
from workbench.evaluation.reports.sheet import contact_sheet

SIM_COLOR, REAL_COLOR = "tab:blue", "tab:orange"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def success_per_suite(results: dict[str, dict[str, object]]) -> bytes:
    """Grouped bars: suites on x, one bar per policy, Wilson 95% intervals as error bars.

    ``results`` is {suite: {policy label: SuccessRate}}.
    """
    suites = list(results)
    policies = list(dict.fromkeys(p for by_policy in results.values() for p in by_policy))
    fig = Figure(figsize=(max(5.0, 1.4 * len(suites) * max(1, len(policies)) ** 0.5 + 2), 3.8))
    ax = fig.add_subplot()
    width = 0.8 / len(policies)
    for k, policy in enumerate(policies):
        x, rate, low, high = [], [], [], []
        for i, suite in enumerate(suites):
            result = results[suite].get(policy)
            if result is None:
                continue
            x.append(i - 0.4 + width * (k + 0.5))
            rate.append(result.rate)
            low.append(result.rate - result.low)
            high.append(result.high - result.rate)
        ax.bar(x, rate, width, yerr=[low, high], capsize=3, label=policy)
    ax.set_xticks(range(len(suites)), suites, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("grasp success (95% interval)")
    ax.set_title("success per held-out suite")
    if len(policies) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def reliability(curves: dict[str, ReliabilityCurve]) -> bytes:
    """Mean Q per bin against the success rate of its transitions' episodes, one line per policy."""
    fig = Figure(figsize=(4.8, 4.4))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="Q = success rate")
    for label, curve in curves.items():
        points = [(q, r, n) for q, r, n in zip(curve.mean_q, curve.success_rate, curve.count) if n]
        q, r, n = (np.array(v) for v in zip(*points))
        (line,) = ax.plot(q, r, "-", linewidth=1, label=label)
        ax.scatter(q, r, s=10 + 90 * n / n.max(), zorder=3, color=line.get_color())
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Q at the taken action (bin mean)")
    ax.set_ylabel("episode success rate in the bin")
    ax.set_title("calibration (marker size: transitions)")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    return _png(fig)


def sample_grids(sim: np.ndarray, real: np.ndarray, sim_title: str, real_title: str, count: int = 16) -> bytes:
    """Simulation and target images side by side, as two contact sheets."""
    fig = Figure(figsize=(9, 4.8))
    for index, (images, title) in enumerate(((sim, sim_title), (real, real_title))):
        ax = fig.add_subplot(1, 2, index + 1)
        ax.imshow(contact_sheet(list(images[:count])), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return _png(fig)


def suite_strips(frames: dict[str, np.ndarray], count: int = 8) -> bytes:
    """One row of first frames per suite."""
    fig = Figure(figsize=(1.1 * count + 1.5, 1.25 * len(frames) + 0.3))
    for index, (name, images) in enumerate(frames.items()):
        ax = fig.add_subplot(len(frames), 1, index + 1)
        ax.imshow(contact_sheet(list(images[:count]), columns=min(count, len(images))), interpolation="nearest")
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return _png(fig)


def histogram_overlays(sim: np.ndarray, real: np.ndarray, sim_stats: ImageSetStats, real_stats: ImageSetStats,
                       sim_label: str, real_label: str) -> bytes:
    """Top: per-channel pixel histograms; bottom: per-image brightness, contrast, sharpness."""
    fig = Figure(figsize=(11, 6))
    edges = np.asarray(sim_stats.histogram_edges)
    for index, channel in enumerate("rgb"):
        ax = fig.add_subplot(2, 3, index + 1)
        for stats, color, label in ((sim_stats, SIM_COLOR, sim_label), (real_stats, REAL_COLOR, real_label)):
            ax.stairs(stats.histograms[channel], edges, color=color, label=label, linewidth=1.5)
        ax.set_title(f"{channel.upper()} channel")
        ax.set_xlabel("pixel value")
        if index == 0:
            ax.set_ylabel("fraction of pixels")
            ax.legend(fontsize=7)
    sim_per, real_per = per_image_stats(sim), per_image_stats(real)
    for index, key in enumerate(("brightness", "contrast", "sharpness")):
        ax = fig.add_subplot(2, 3, 4 + index)
        both = np.concatenate([sim_per[key], real_per[key]])
        bins = np.linspace(both.min(), both.max() + 1e-9, 21)
        ax.hist(sim_per[key], bins=bins, alpha=0.5, color=SIM_COLOR, density=True, label=sim_label)
        ax.hist(real_per[key], bins=bins, alpha=0.5, color=REAL_COLOR, density=True, label=real_label)
        ax.set_title({"brightness": "brightness (mean luma)", "contrast": "contrast (luma std)",
                      "sharpness": "sharpness (Laplacian variance)"}[key], fontsize=9)
    fig.tight_layout()
    return _png(fig)


def pareto_scatter(points: list[tuple[float, float, bool]], x_label: str, y_label: str, title: str) -> bytes:
    """Trials as points (x, y, on_front); the Pareto-optimal ones joined and highlighted."""
    fig = Figure(figsize=(5.2, 4.2))
    ax = fig.add_subplot()
    others = [(x, y) for x, y, front in points if not front]
    front = sorted((x, y) for x, y, on in points if on)
    if others:
        ax.scatter(*zip(*others), s=25, color="tab:gray", alpha=0.6, label="trial")
    if front:
        ax.plot(*zip(*front), "o-", color="tab:red", markersize=6, label="Pareto front")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def importance_bars(importances: dict[str, float], title: str) -> bytes:
    """Horizontal bars, most important parameter on top."""
    names = sorted(importances, key=importances.get)
    fig = Figure(figsize=(6.4, 0.5 * len(names) + 1.4))
    ax = fig.add_subplot()
    ax.barh(range(len(names)), [importances[n] for n in names], color="tab:blue")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("importance")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def objective_history(points: list[tuple[int, float]], metric: str, maximize: bool, marked: int | None = None) -> bytes:
    """Complete trials' objective by trial number, with the best so far; ``marked`` (a trial number,
    e.g. the default profile's own trial) ringed."""
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot()
    points = sorted(points)
    numbers, values = [n for n, _ in points], [v for _, v in points]
    ax.scatter(numbers, values, s=28, color="tab:blue", label="trial", zorder=3)
    best = np.maximum.accumulate(values) if maximize else np.minimum.accumulate(values)
    ax.step(numbers, best, where="post", color="tab:red", label="best so far")
    if marked is not None and marked in numbers:
        ax.scatter([marked], [values[numbers.index(marked)]], s=110, facecolors="none", edgecolors="black",
                   label="default profile", zorder=4)
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"objective history: {metric} ({'maximize' if maximize else 'minimize'})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
