"""A trial's training: ``workbench train`` in a child process (``workbench.cli.train_child``), watched from the worker.

The trainer writes its checkpoint every ``checkpoint_every`` learner steps (atomically);
the worker copies each new one and measures it while training goes on, as QT-Opt's
collectors read the trainer's checkpoints. The measured values are the trial's
intermediate values, at the checkpoint's learner step, so a pruner can stop the trial:
the trainer is then killed. The child gets SIGKILL when the worker dies (Linux), so a
killed study leaves no trainer behind. A non-finite loss in the trainer's history, a
non-zero exit or the trial's time limit ends the trial as failed, with the reason.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from policies.runtime.files import atomic_write_bytes
from studies.processes import child_env

CHECKPOINT = "checkpoint.safetensors"
HISTORY = "history.json"


class TrialFailure(Exception):
    """The trial cannot go on; the message is its recorded reason."""


def diverged(history_path: Path) -> str | None:
    """A reason when the trainer's history shows a non-finite loss or Q-value, else None."""
    try:
        points = json.loads(history_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    for point in points if isinstance(points, list) else []:
        for key in ("loss", "mean_q", "target_q"):
            value = point.get(key) if isinstance(point, dict) else None
            if isinstance(value, (int, float)) and not math.isfinite(value):
                return f"diverged: {key} is {value} at learner step {point.get('step')}"
    return None


def log_tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


class Trainer:
    """``workbench train --run RUN --config CONFIG`` as a child process; with no CONFIG, the run laid out
    from a warm start (its config.json) continued with its lockstep collector beside it."""

    def __init__(self, run_dir: Path, config_path: Path | None, log_path: Path, deadline: float, poll: float = 0.25):
        self.run_dir, self.config_path, self.log_path = run_dir, config_path, log_path
        self.deadline = deadline
        self.poll = poll
        self.process: subprocess.Popen | None = None
        self.copy = run_dir.parent / "measured-checkpoint.safetensors"

    def start(self) -> None:
        command = [sys.executable, "-m", "workbench.cli.train_child", "--run", str(self.run_dir), "--json"]
        if self.config_path is None:
            command.append("--continue")
        else:
            command += ["--config", str(self.config_path)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=child_env(parent=True))

    def checkpoints(self) -> Iterator[Path]:
        """A private copy of each new checkpoint while the trainer runs (the last one included), safe to
        read while training goes on; TrialFailure when training fails."""
        checkpoint, history = self.run_dir / CHECKPOINT, self.run_dir / HISTORY
        seen, history_seen = _stamp(checkpoint), None  # a warm start's checkpoint is not a new one
        while True:
            code = self.process.poll()
            stamp = _stamp(history)
            if stamp is not None and stamp != history_seen:
                history_seen = stamp
                reason = diverged(history)
                if reason:
                    self.stop()
                    raise TrialFailure(reason)
            stamp = _stamp(checkpoint)
            if stamp is not None and stamp != seen:
                seen = stamp
                try:
                    payload = checkpoint.read_bytes()
                except OSError:
                    payload = None
                if payload:
                    atomic_write_bytes(self.copy, payload)
                    yield self.copy
                continue  # look again at once: the trainer may have ended meanwhile
            if code is not None:
                break
            if time.monotonic() > self.deadline:
                self.stop()
                raise TrialFailure("timed out: training ran past budget.trial_minutes")
            time.sleep(self.poll)
        if code != 0:
            tail = log_tail(self.log_path)
            raise TrialFailure(f"training exited with status {code}: {tail or 'no output'}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _stamp(path: Path):
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ino, stat.st_size
