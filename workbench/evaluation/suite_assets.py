"""Suite profiles made ready on disk, with the held-out photographs they texture with.

The training profiles texture with the photographs in
``randomizers.photos.BUILTIN_PHOTOS`` (from scikit-image's wheel). The suites that
test unseen textures use other photographs from the same wheel, listed in
``HELDOUT_PHOTOS``, never named by a training profile. A suite profile in
``workbench/evaluation/suite_profiles/`` names its photo folder ``heldout_photos`` relative to
itself; since the package directory may be read-only, the profile is copied into a
cache directory (``$WORKBENCH_CACHE``, else ``~/.cache/workbench``) beside a
``heldout_photos`` folder holding copies of those files. Both are written atomically.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError

# Photographs shipped in scikit-image's wheel that no training profile uses.
HELDOUT_PHOTOS = ("motorcycle_left.png", "retina.jpg", "clock_motion.png", "cell.png", "page.png", "text.png")
PHOTO_FOLDER = "heldout_photos"
_CACHE_VERSION = "suite-profiles-v1"


def cache_dir() -> Path:
    root = os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench"
    return Path(root) / _CACHE_VERSION


def heldout_photo_folder() -> Path:
    """The folder of held-out photographs, created on first use."""
    import skimage.data

    folder = cache_dir() / PHOTO_FOLDER
    if folder.is_dir():
        return folder
    source = Path(skimage.data.data_dir)
    missing = [name for name in HELDOUT_PHOTOS if not (source / name).is_file()]
    if missing:
        raise UserError(f"scikit-image's data folder {source} lacks the held-out photographs {', '.join(missing)}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{PHOTO_FOLDER}."))
    try:
        for name in HELDOUT_PHOTOS:
            shutil.copyfile(source / name, staging / name)
        os.rename(staging, folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not folder.is_dir():  # not merely another process finishing first
            raise
    return folder


def prepared_suite_profile(profile: Path) -> Path:
    """A copy of a suite profile beside the held-out photo folder; its path, for GraspEnv."""
    if not profile.is_file():
        raise UserError(f"{profile}: suite profile not found")
    heldout_photo_folder()
    target = cache_dir() / profile.name
    payload = profile.read_bytes()
    if not target.is_file() or target.read_bytes() != payload:
        atomic_write_bytes(target, payload)
    return target
