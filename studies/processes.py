"""Child processes that die with their parent, and telling whether a worker process still lives.

A worker records ``{host, pid, start}`` on each trial it runs (``start`` is the process's
start time in clock ticks since boot, from /proc, so a reused pid is not mistaken for the
worker). ``resume`` marks a running trial failed when its worker on this host is gone.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PARENT_ENV = "WORKBENCH_STUDY_PARENT"  # the pid a child process must die with


def die_with_parent() -> None:
    """First thing in a child started by ``child_env(parent=True)``: get SIGKILL when the parent dies
    (Linux), and exit at once if it already has. (Done in the child, not as ``preexec_fn``, which is
    unsafe in a process with threads, such as a worker with its heartbeat.)"""
    from workbench.training.pipeline import set_parent_death_signal

    expected = os.environ.pop(PARENT_ENV, None)
    set_parent_death_signal()
    if expected is not None and os.getppid() != int(expected):
        os._exit(1)  # the parent died before the line above: nobody wants this process any more


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), or None where /proc has none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of stat; fields here start at field 3
    except (IndexError, ValueError):
        return None


def process_alive(pid: int | None, start: int | None) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process with that pid: alive, but maybe not ours
    if start is not None:
        now = process_start(pid)
        if now is not None and now != start:
            return False  # the pid was reused
        if now is None and Path("/proc").is_dir():
            return False
    return True


def identity() -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": process_start(pid)}


def child_env(parent: bool = False) -> dict:
    """The environment of a child Python process: this checkout importable, no progress bars; with
    ``parent``, the pid the child's ``die_with_parent`` checks."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    if parent:
        env[PARENT_ENV] = str(os.getpid())
    paths = [root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("MUJOCO_GL", "egl")
    env["TQDM_DISABLE"] = "1"
    return env
