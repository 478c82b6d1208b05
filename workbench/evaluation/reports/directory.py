"""Write a report directory atomically: all of it appears at once, or nothing changes.

The files are written into a temporary directory beside the target, which then
replaces the target by rename. An existing target is replaced only if it is a
report (it holds ``report.json``), so a mistyped ``--report`` cannot delete a run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from workbench.errors import UserError

MARKER = "report.json"


def write_report_directory(out: str | os.PathLike, files: dict[str, bytes]) -> Path:
    out = Path(out)
    if MARKER not in files:
        raise ValueError(f"a report needs {MARKER}")
    if out.exists() and not (out / MARKER).is_file():
        raise UserError(f"{out} exists and is not a report (no {MARKER}); choose another --report")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        for name, payload in files.items():
            if Path(name).name != name:
                raise ValueError(f"report file names must be plain, got {name!r}")
            (staging / name).write_bytes(payload)
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _swap_in(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
    os.rmdir(old)  # only the unique name is wanted
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(old, out)  # put the previous report back
        raise
    shutil.rmtree(old, ignore_errors=True)
