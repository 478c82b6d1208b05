"""What a training run logs: history.json, TensorBoard scalars and the learning curve."""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path

import numpy as np

from policies.runtime.files import atomic_write_bytes
from workbench.training.config import RunPaths


def read_history(paths: RunPaths, up_to_step: int) -> list[dict]:
    if not paths.history.exists():
        return []
    try:
        points = json.loads(paths.history.read_text())
    except (OSError, json.JSONDecodeError):
        return []  # the history is a log, not state: a damaged one restarts empty
    return [p for p in points if isinstance(p, dict) and p.get("step", math.inf) <= up_to_step]


def plot_learning_curve(history: list[dict], offline_steps: int, path: Path) -> None:
    import matplotlib  # loaded on first plot: most commands never draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def series(key):
        points = [(p["step"], p[key]) for p in history if p.get(key) is not None]
        return ([s for s, _ in points], [v for _, v in points])

    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    axes[0].plot(*series("loss"), label="log loss")
    axes[0].set_ylabel("loss")
    axes[1].plot(*series("mean_q"), label="mean Q(s, a)")
    axes[1].plot(*series("target_q"), label="mean Bellman target")
    axes[1].set_ylabel("Q")
    axes[2].plot(*series("collect_success"), label="on-policy episodes (last 50, with noise)")
    axes[2].plot(*series("eval_success"), "o-", label="greedy eval, train objects")
    axes[2].set_ylabel("success")
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("learner step")
    for ax in axes:
        if offline_steps:
            ax.axvline(offline_steps, color="grey", linestyle=":", linewidth=1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle("QT-Opt training (dotted: offline -> finetuning)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def summary_writer(paths: RunPaths):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(paths.tensorboard))


def log_scalars(writer, point: dict) -> None:
    step = point["step"]
    names = {"loss": "train/loss", "mean_q": "train/mean_q", "target_q": "train/target_q",
             "steps_per_s": "train/steps_per_s", "collect_success": "collect/success_last50",
             "online_episodes": "collect/online_episodes", "offline_episodes": "collect/offline_episodes",
             "eval_success": "eval/success_train_objects"}
    for key, tag in names.items():
        if point.get(key) is not None:
            writer.add_scalar(tag, point[key], step)


class RunLog:
    """A run's history (points of {step, ...}), mirrored to TensorBoard and drawn as the learning curve."""

    def __init__(self, paths: RunPaths, up_to_step: int, offline_steps: int):
        self.paths, self.offline_steps = paths, offline_steps
        self.history = read_history(paths, up_to_step)  # a resumed run keeps the points up to its checkpoint
        self.writer = summary_writer(paths)

    def record(self, point: dict) -> None:
        self.history.append(point)
        log_scalars(self.writer, point)

    def flush(self) -> None:
        atomic_write_bytes(self.paths.history, json.dumps(self.history).encode())
        self.writer.flush()
        plot_learning_curve(self.history, self.offline_steps, self.paths.curve)

    def close(self) -> None:
        self.writer.close()


class LossWindow:
    """The learner's figures averaged over the steps since the last log point, and their rate."""

    def __init__(self):
        self.started, self.points = time.monotonic(), []

    def add(self, loss: float, mean_q: float, target_q: float) -> None:
        self.points.append((loss, mean_q, target_q))

    def point(self, step: int, finetuning: bool) -> dict:
        loss, mean_q, target_q = np.mean(self.points, axis=0)
        point = {"step": step, "phase": "finetune" if finetuning else "offline", "loss": float(loss),
                 "mean_q": float(mean_q), "target_q": float(target_q),
                 "steps_per_s": len(self.points) / (time.monotonic() - self.started)}
        self.started, self.points = time.monotonic(), []
        return point
