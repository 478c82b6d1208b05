"""The real-image data format (version 1): reading, validating and writing it.

A directory holds a manifest, unlabelled camera images, labelled grasp episodes, or
both (docs/real-data-format.md is the full description):

    DIR/
      realdata.json                 manifest: format, version, image size, action scale, source
      images/*.png|*.jpg|*.jpeg     unlabelled camera images
      episodes/<id>/episode.json    per episode: success label and steps (image, gripper state, action)
      episodes/<id>/*.png|*.jpg     the step images that episode.json names

The manifest may name two disjoint splits of the files, ``tune`` (what a study may
see) and ``test`` (reported, never seen by a study); ``workbench data split`` writes
them and ``load_real_data(..., split="tune")`` reads only that split's files.

Reading validates everything (manifest fields, every image's format, size and
colour layout, every step's state and action, every label) and stops at the first
problem with a ``RealDataError`` naming the file, the field and the reason; the CLI
exits with status 2. Writing builds the whole directory under a temporary name
beside the target and renames it into place, so a failed write leaves nothing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policies.runtime.files import FileProblem
from workbench.errors import UserError

FORMAT_NAME = "workbench-realdata"
FORMAT_VERSION = 1
MANIFEST = "realdata.json"
IMAGES_DIR = "images"
EPISODES_DIR = "episodes"
EPISODE_FILE = "episode.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SOURCES = ("real", "simulation")
MAX_STEPS = 1000
HEIGHT_RANGE = (-0.1, 1.0)  # metres above the bin floor, as GraspEnv's observation space
ACTION_TOLERANCE = 1e-6  # relative slack on the translation bound, for float32 round-off


class RealDataError(FileProblem, UserError):
    """A real-data directory that breaks the format; names the file and the reason."""


@dataclass(frozen=True)
class SplitFiles:
    """The files of one split: episode ids (folder names in episodes/) and image file names in images/."""

    episodes: tuple[str, ...] = ()
    images: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"episodes": list(self.episodes), "images": list(self.images)}


@dataclass(frozen=True)
class Manifest:
    source: str  # "real", or "simulation" for data written by `workbench data export-sim`
    image_width: int
    image_height: int
    max_translation: float  # metres per step: the scale of action dims 0..2
    description: str = ""
    simulation: dict[str, Any] | None = None  # how export-sim made it (suite, policy, seed, ...)
    splits: dict[str, SplitFiles] | None = None  # "tune" and/or "test": disjoint sets of files
    split_seed: int | None = None  # the seed `workbench data split` drew the splits with

    def to_json(self) -> dict:
        record = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "source": self.source,
                  "image_width": self.image_width, "image_height": self.image_height,
                  "max_translation": self.max_translation, "description": self.description}
        if self.simulation is not None:
            record["simulation"] = self.simulation
        if self.splits is not None:
            record["splits"] = {name: files.to_json() for name, files in self.splits.items()}
            if self.split_seed is not None:
                record["splits"]["seed"] = self.split_seed
        return record


@dataclass(frozen=True)
class LabelledEpisode:
    episode_id: str
    success: bool
    images: np.ndarray  # (T, H, W, 3) uint8: the image before each action
    states: np.ndarray  # (T, 2) float32: [gripper_closed, height]
    actions: np.ndarray  # (T, 8) float32
    final_image: np.ndarray | None = None  # (H, W, 3) after the last action, if logged

    @property
    def steps(self) -> int:
        return len(self.actions)


@dataclass(frozen=True)
class RealData:
    root: Path
    manifest: Manifest
    images: np.ndarray  # (N, H, W, 3) uint8 unlabelled images (N may be 0)
    image_names: list[str]
    episodes: list[LabelledEpisode] = field(default_factory=list)
    split: str | None = None  # the split read ("tune" or "test"); None: every file

    def camera_images(self) -> np.ndarray:
        """Every image the camera took: the unlabelled ones, then each episode's step images."""
        parts = [self.images] + [e.images for e in self.episodes]
        return np.concatenate([p for p in parts if len(p)])

    def transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(images, states, actions, episode index per transition, success per episode)."""
        if not self.episodes:
            raise ValueError("no labelled episodes")
        return (np.concatenate([e.images for e in self.episodes]),
                np.concatenate([e.states for e in self.episodes]),
                np.concatenate([e.actions for e in self.episodes]),
                np.concatenate([np.full(e.steps, i) for i, e in enumerate(self.episodes)]),
                np.array([e.success for e in self.episodes], bool))

    def summary(self) -> dict:
        splits = self.manifest.splits
        return {"root": str(self.root), "source": self.manifest.source, "format_version": FORMAT_VERSION,
                "image_size": [self.manifest.image_width, self.manifest.image_height],
                "split": self.split, "images": len(self.images), "episodes": len(self.episodes),
                "successful_episodes": sum(e.success for e in self.episodes),
                "transitions": sum(e.steps for e in self.episodes),
                "splits": None if splits is None else {
                    name: {"episodes": len(files.episodes), "images": len(files.images)}
                    for name, files in splits.items()}}


# -- reading ------------------------------------------------------------------------

def load_real_data(root: str | os.PathLike, image_size: int | None = None, split: str | None = None) -> RealData:
    """Read and validate a real-data directory.

    With ``image_size``, every image is cut to its central square and resized to
    image_size x image_size (area averaging when shrinking) after it is validated, so
    large camera images never pile up in memory. With ``split`` ("tune" or "test"), only
    the files the manifest's ``splits`` puts in that split are read; a directory without
    that split is refused.
    """
    root = Path(root)
    if not root.is_dir():
        raise RealDataError(root, "not a directory")
    manifest = read_manifest(root / MANIFEST)
    size = (manifest.image_height, manifest.image_width)
    prepare = (lambda image: fit_image(image, image_size)) if image_size is not None else (lambda image: image)
    image_paths, episode_paths = _image_entries(root), _episode_entries(root)
    _check_split_files(root, manifest, image_paths, episode_paths)
    if split is not None:
        files = split_files(root, manifest, split)
        image_paths = [path for path in image_paths if path.name in set(files.images)]
        episode_paths = [path for path in episode_paths if path.name in set(files.episodes)]

    names = [path.name for path in image_paths]
    images = [prepare(read_image(path, size)) for path in image_paths]
    episodes = [read_episode(path, manifest, prepare) for path in episode_paths]
    if not images and not episodes:
        where = f"split {split!r} of " if split is not None else ""
        raise RealDataError(root, f"{where}holds no images ({IMAGES_DIR}/) and no episodes ({EPISODES_DIR}/)")
    side = (image_size, image_size) if image_size is not None else size
    stacked = np.stack(images) if images else np.empty((0, *side, 3), np.uint8)
    return RealData(root, manifest, stacked, names, episodes, split)


def reported_split(root: str | os.PathLike) -> str | None:
    """The split a report reads by default: "test" where the directory's manifest names one (the
    files no study saw), else None (every file). A directory that cannot be read is left to
    load_real_data to refuse with its reason."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    splits = read_manifest(path).splits
    return "test" if splits is not None and "test" in splits else None


def split_files(root: Path, manifest: Manifest, split: str) -> SplitFiles:
    """The files of ``split``; RealDataError naming the manifest when the directory has no such split."""
    from workbench.evaluation.target_splits import SPLITS

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    if manifest.splits is None or split not in manifest.splits:
        raise RealDataError(root / MANIFEST, f"splits.{split}: missing: this directory has no {split!r} split "
                                             f"(assign one with `workbench data split {root}`)")
    return manifest.splits[split]


def _image_entries(root: Path) -> list[Path]:
    images_dir = root / IMAGES_DIR
    if not images_dir.exists():
        return []
    if not images_dir.is_dir():
        raise RealDataError(images_dir, "must be a directory of PNG or JPEG images")
    entries = _entries(images_dir)
    for path in entries:
        if path.is_dir():
            raise RealDataError(path, "unexpected directory: images/ holds image files only")
    return entries


def _episode_entries(root: Path) -> list[Path]:
    episodes_dir = root / EPISODES_DIR
    if not episodes_dir.exists():
        return []
    if not episodes_dir.is_dir():
        raise RealDataError(episodes_dir, "must be a directory with one folder per episode")
    entries = _entries(episodes_dir)
    for path in entries:
        if not path.is_dir():
            raise RealDataError(path, "unexpected file: episodes/ holds one folder per episode")
    return entries


def _check_split_files(root: Path, manifest: Manifest, image_paths: list[Path], episode_paths: list[Path]) -> None:
    """Every file a split names is in the directory."""
    if manifest.splits is None:
        return
    present = {"images": {p.name for p in image_paths}, "episodes": {p.name for p in episode_paths}}
    folders = {"images": IMAGES_DIR, "episodes": EPISODES_DIR}
    for name, files in manifest.splits.items():
        for kind in ("episodes", "images"):
            for entry in getattr(files, kind):
                if entry not in present[kind]:
                    raise RealDataError(root / MANIFEST, f"splits.{name}.{kind}: names {entry!r}, which is not in "
                                                         f"{folders[kind]}/")


def read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise RealDataError(path, "missing: not a real-data directory (see docs/real-data-format.md)")
    return read_manifest_data(path, _read_json(path))


def read_manifest_data(path: Path, data: Any) -> Manifest:
    """The manifest in ``data`` (the JSON of ``path``), validated."""
    if not isinstance(data, dict):
        raise RealDataError(path, "must be a JSON object")
    if data.get("format") != FORMAT_NAME:
        raise RealDataError(path, f"format: expected {FORMAT_NAME!r}, got {data.get('format')!r}")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise RealDataError(path, f"format_version {version!r} is unknown: this workbench reads version "
                                  f"{FORMAT_VERSION}")
    allowed = {"format", "format_version", "source", "image_width", "image_height", "max_translation",
               "description", "simulation", "splits"}
    _no_unknown_keys(path, data, allowed, "")
    for key in ("source", "image_width", "image_height", "max_translation"):
        if key not in data:
            raise RealDataError(path, f"{key}: missing")
    if data["source"] not in SOURCES:
        raise RealDataError(path, f"source: expected one of {', '.join(SOURCES)}, got {data['source']!r}")
    for key in ("image_width", "image_height"):
        if not _is_int(data[key]) or data[key] < 1:
            raise RealDataError(path, f"{key}: expected a positive integer, got {data[key]!r}")
    translation = data["max_translation"]
    if not _is_number(translation) or not translation > 0:
        raise RealDataError(path, f"max_translation: expected a positive number (metres per step), "
                                  f"got {translation!r}")
    if not isinstance(data.get("description", ""), str):
        raise RealDataError(path, "description: expected a string")
    simulation = data.get("simulation")
    if simulation is not None and not isinstance(simulation, dict):
        raise RealDataError(path, "simulation: expected an object")
    splits, split_seed = _check_splits(path, data["splits"]) if "splits" in data else (None, None)
    return Manifest(data["source"], data["image_width"], data["image_height"], float(translation),
                    data.get("description", ""), simulation, splits, split_seed)


def _check_splits(path: Path, splits: Any) -> tuple[dict[str, SplitFiles], int | None]:
    """The manifest's ``splits``: {"tune": {"episodes": [...], "images": [...]}, "test": {...}, "seed": 0},
    each file in at most one split."""
    from workbench.evaluation.target_splits import SPLITS

    if not isinstance(splits, dict):
        raise RealDataError(path, f"splits: expected an object with {' and '.join(SPLITS)}, got {_describe(splits)}")
    _no_unknown_keys(path, splits, {*SPLITS, "seed"}, "splits.")
    seed = splits.get("seed")
    if seed is not None and not _is_int(seed):
        raise RealDataError(path, f"splits.seed: expected an integer, got {seed!r}")
    result: dict[str, SplitFiles] = {}
    owner: dict[tuple[str, str], str] = {}
    for name in SPLITS:
        if name not in splits:
            continue
        table = splits[name]
        if not isinstance(table, dict):
            raise RealDataError(path, f"splits.{name}: expected an object with episodes and images, "
                                      f"got {_describe(table)}")
        _no_unknown_keys(path, table, {"episodes", "images"}, f"splits.{name}.")
        lists = {}
        for kind in ("episodes", "images"):
            entries = table.get(kind, [])
            where = f"splits.{name}.{kind}"
            if not isinstance(entries, list):
                raise RealDataError(path, f"{where}: expected a list of names, got {_describe(entries)}")
            for entry in entries:
                if not isinstance(entry, str) or not entry or entry.startswith(".") or "/" in entry or "\\" in entry:
                    raise RealDataError(path, f"{where}: expected file or folder names, got {entry!r}")
                if (kind, entry) in owner:
                    other = owner[(kind, entry)]
                    reason = ("appears twice" if other == name else
                              f"is also in splits.{other}.{kind}: a file belongs to at most one split")
                    raise RealDataError(path, f"{where}: {entry!r} {reason}")
                owner[(kind, entry)] = name
            lists[kind] = tuple(entries)
        result[name] = SplitFiles(lists["episodes"], lists["images"])
    return result, seed


def read_episode(folder: Path, manifest: Manifest, prepare=lambda image: image) -> LabelledEpisode:
    path = folder / EPISODE_FILE
    if not path.is_file():
        raise RealDataError(path, "missing: every episode folder needs an episode.json")
    data = _read_json(path)
    if not isinstance(data, dict):
        raise RealDataError(path, "must be a JSON object")
    _no_unknown_keys(path, data, {"success", "steps", "final_image", "notes"}, "")
    if "success" not in data:
        raise RealDataError(path, "success: missing label (every episode needs success: true or false)")
    if not isinstance(data["success"], bool):
        raise RealDataError(path, f"success: the label must be true or false, got {data['success']!r}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise RealDataError(path, f"steps: expected a list of 1 to {MAX_STEPS} steps, got {_describe(steps)}")
    if not isinstance(data.get("notes", ""), str):
        raise RealDataError(path, "notes: expected a string")

    size = (manifest.image_height, manifest.image_width)
    named: set[str] = set()
    images, states, actions = [], [], []
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            raise RealDataError(path, f"{where}: expected an object, got {_describe(step)}")
        _no_unknown_keys(path, step, {"image", "gripper_closed", "height", "action"}, where + ".")
        for key in ("image", "gripper_closed", "height", "action"):
            if key not in step:
                raise RealDataError(path, f"{where}.{key}: missing")
        states.append(_check_state(path, where, step))
        actions.append(_check_action(path, where, step["action"], manifest.max_translation))
        image_path = _image_reference(path, folder, f"{where}.image", step["image"])
        named.add(image_path.name)
        images.append(prepare(read_image(image_path, size)))
    final = None
    if data.get("final_image") is not None:
        final_path = _image_reference(path, folder, "final_image", data["final_image"])
        named.add(final_path.name)
        final = prepare(read_image(final_path, size))
    for entry in _entries(folder):
        if entry.name != EPISODE_FILE and entry.name not in named:
            raise RealDataError(entry, f"not named by {EPISODE_FILE}: an episode folder holds its episode.json "
                                       "and the images it names")
    return LabelledEpisode(folder.name, data["success"], np.stack(images), np.array(states, np.float32),
                           np.array(actions, np.float32), final)


def read_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """An 8-bit RGB image of (height, width) ``size``, or RealDataError saying what it is instead."""
    import imageio.v3 as iio

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise RealDataError(path, f"not an image file: expected a PNG or JPEG ({', '.join(IMAGE_SUFFIXES)})")
    try:
        image = iio.imread(path, plugin="pillow")
    except Exception as error:  # imageio and its plugins raise many types
        raise RealDataError(path, f"cannot be decoded as a PNG or JPEG image ({type(error).__name__}: "
                                  f"{error})") from None
    if image.dtype != np.uint8:
        raise RealDataError(path, f"has {image.dtype} pixels; the format needs 8-bit RGB")
    if image.ndim == 2:
        raise RealDataError(path, f"is greyscale {image.shape}; the format needs RGB (height, width, 3)")
    if image.ndim != 3 or image.shape[2] != 3:
        raise RealDataError(path, f"has shape {image.shape}; the format needs RGB (height, width, 3), "
                                  "no alpha channel")
    if image.shape[:2] != size:
        raise RealDataError(path, f"is {image.shape[1]}x{image.shape[0]} (width x height), but "
                                  f"{MANIFEST} says every image is {size[1]}x{size[0]}")
    return image


def fit_image(image: np.ndarray, side: int) -> np.ndarray:
    """The central square of an (H, W, 3) image, resized to side x side."""
    from PIL import Image

    height, width = image.shape[:2]
    if (height, width) == (side, side):
        return image
    edge = min(height, width)
    top, left = (height - edge) // 2, (width - edge) // 2
    square = Image.fromarray(image[top:top + edge, left:left + edge])
    method = Image.Resampling.BOX if edge > side else Image.Resampling.BILINEAR
    return np.asarray(square.resize((side, side), method))


def _check_state(path: Path, where: str, step: dict) -> tuple[float, float]:
    closed, height = step["gripper_closed"], step["height"]
    if not _is_number(closed) or not 0 <= closed <= 1:
        raise RealDataError(path, f"{where}.gripper_closed: expected the finger closure in [0, 1] (0 open, 1 closed), "
                                  f"got {closed!r}")
    low, high = HEIGHT_RANGE
    if not _is_number(height) or not low <= height <= high:
        raise RealDataError(path, f"{where}.height: expected metres above the bin floor in [{low}, {high}], "
                                  f"got {height!r}")
    return float(closed), float(height)


def _check_action(path: Path, where: str, action: Any, max_translation: float) -> list[float]:
    if not isinstance(action, list) or len(action) != 8 or not all(_is_number(v) for v in action):
        raise RealDataError(path, f"{where}.action: expected 8 finite numbers [dx, dy, dz, sin, cos, close, "
                                  f"open, terminate], got {_describe(action)}")
    bound = max_translation * (1 + ACTION_TOLERANCE)
    for i, name in enumerate(("dx", "dy", "dz")):
        if abs(action[i]) > bound:
            raise RealDataError(path, f"{where}.action[{i}] ({name}) = {action[i]!r} is beyond max_translation "
                                      f"{max_translation} (metres per step, from {MANIFEST})")
    for i, name in ((3, "sin"), (4, "cos")):
        if abs(action[i]) > 1:
            raise RealDataError(path, f"{where}.action[{i}] ({name}) = {action[i]!r} is outside [-1, 1]")
    for i, name in ((5, "close"), (6, "open"), (7, "terminate")):
        if not 0 <= action[i] <= 1:
            raise RealDataError(path, f"{where}.action[{i}] ({name}) = {action[i]!r} is outside [0, 1]")
    return [float(v) for v in action]


def _image_reference(path: Path, folder: Path, where: str, name: Any) -> Path:
    if not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name:
        raise RealDataError(path, f"{where}: expected the file name of an image in this episode's folder, "
                                  f"got {name!r}")
    image_path = folder / name
    if not image_path.is_file():
        raise RealDataError(path, f"{where}: names {name!r}, which is not in {folder}")
    return image_path


def _entries(folder: Path) -> list[Path]:
    """A folder's entries in name order, hidden ones (a leading dot) left out."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _read_json(path: Path) -> Any:
    """Through the front door: a directory, a FIFO, non-UTF-8 text, NaN or a huge integer is refused."""
    from policies.runtime.input_files import InputFileError, load_json

    try:
        return load_json(path)
    except InputFileError as error:
        raise RealDataError(path, error.problem) from None


def _no_unknown_keys(path: Path, data: dict, allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise RealDataError(path, f"{prefix}{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- writing ------------------------------------------------------------------------

def write_real_data(out: str | os.PathLike, manifest: Manifest, images: np.ndarray | list,
                    episodes: list[LabelledEpisode]) -> Path:
    """Write a complete real-data directory at ``out``, which must not exist yet.

    Everything is written under a temporary name beside ``out``, read back through
    ``load_real_data`` (so a writer bug cannot leave an invalid directory), then
    renamed into place; on any error the temporary directory is removed.
    """
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} already exists; choose a new --out (real-data directories are never overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        _write_contents(staging, manifest, images, episodes)
        load_real_data(staging)
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_contents(root: Path, manifest: Manifest, images, episodes: list[LabelledEpisode]) -> None:
    (root / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    if len(images):
        (root / IMAGES_DIR).mkdir()
        for index, image in enumerate(images):
            _write_png(root / IMAGES_DIR / f"image-{index:06d}.png", image)
    for episode in episodes:
        folder = root / EPISODES_DIR / episode.episode_id
        folder.mkdir(parents=True)
        steps = []
        for t in range(episode.steps):
            name = f"step-{t:03d}.png"
            _write_png(folder / name, episode.images[t])
            steps.append({"image": name, "gripper_closed": float(episode.states[t, 0]),
                          "height": float(episode.states[t, 1]),
                          "action": [float(v) for v in episode.actions[t]]})
        head: dict[str, Any] = {"success": bool(episode.success)}
        if episode.final_image is not None:
            _write_png(folder / "final.png", episode.final_image)
            head["final_image"] = "final.png"
        (folder / EPISODE_FILE).write_text(_episode_json(head, steps))


def _episode_json(head: dict, steps: list[dict]) -> str:
    """episode.json with one line per step: easy to read and to diff."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    body = ",\n".join(f"    {json.dumps(step)}" for step in steps)
    return "{\n" + "\n".join(lines) + '\n  "steps": [\n' + body + "\n  ]\n}\n"


def _write_png(path: Path, image: np.ndarray) -> None:
    import imageio.v3 as iio

    path.write_bytes(iio.imwrite("<bytes>", np.ascontiguousarray(image, dtype=np.uint8), extension=".png"))


# -- splitting ------------------------------------------------------------------------

def assign_splits(root: str | os.PathLike, *, tune_episodes: int, tune_images: int, seed: int,
                  force: bool = False) -> dict:
    """Put ``tune_episodes`` episodes and ``tune_images`` unlabelled images of a valid directory in
    the ``tune`` split and the rest in ``test``, drawn with ``seed``, and write the assignment into
    the manifest (atomically: the old manifest stays whole until the new one replaces it).

    The tune episodes keep the directory's share of successes (at least one success and one
    failure when the directory has both and tune has two or more), so a tune split can rank a
    Q-function. An existing assignment is replaced only with ``force``.
    """
    from policies.runtime.files import atomic_write_bytes
    from workbench.evaluation.target_splits import TEST, TUNE

    root = Path(root)
    data = load_real_data(root)  # the whole directory, validated, before anything is written
    path = root / MANIFEST
    if data.manifest.splits is not None and not force:
        counts = "; ".join(f"{name}: {len(files.episodes)} episodes, {len(files.images)} images"
                           for name, files in data.manifest.splits.items())
        raise UserError(f"{path}: splits: already assigned ({counts}); pass --force to draw them again (a study "
                        "that saw the old tune split would then be measured on other data)")
    for flag, wanted, held, what in (("--tune-episodes", tune_episodes, len(data.episodes), "episodes"),
                                     ("--tune-images", tune_images, len(data.images), f"images in {IMAGES_DIR}/")):
        if not 0 <= wanted <= held:
            raise UserError(f"{flag} {wanted}: {root} holds {held} {what}; give 0 to {held}")
    rng = np.random.default_rng(seed)
    tune_ids = _draw_episodes(data.episodes, tune_episodes, rng)
    tune_names = set(rng.permutation(data.image_names)[:tune_images].tolist()) if tune_images else set()
    splits = {
        TUNE: SplitFiles(tuple(e.episode_id for e in data.episodes if e.episode_id in tune_ids),
                         tuple(n for n in data.image_names if n in tune_names)),
        TEST: SplitFiles(tuple(e.episode_id for e in data.episodes if e.episode_id not in tune_ids),
                         tuple(n for n in data.image_names if n not in tune_names))}
    raw = _read_json(path)
    raw["splits"] = {**{name: files.to_json() for name, files in splits.items()}, "seed": seed}
    read_manifest_data(path, raw)  # what is written must read back
    atomic_write_bytes(path, (json.dumps(raw, indent=2) + "\n").encode())
    return {"root": str(root), "seed": seed,
            "splits": {name: {"episodes": len(files.episodes), "images": len(files.images),
                              "successful_episodes": sum(e.success for e in data.episodes
                                                         if e.episode_id in set(files.episodes))}
                       for name, files in splits.items()}}


def _draw_episodes(episodes: list[LabelledEpisode], count: int, rng: np.random.Generator) -> set[str]:
    """``count`` episode ids, stratified by label: the successes' share as in ``episodes``."""
    successes = [e.episode_id for e in episodes if e.success]
    failures = [e.episode_id for e in episodes if not e.success]
    share = round(count * len(successes) / len(episodes)) if episodes else 0
    if successes and failures and count >= 2:
        share = min(max(share, 1), count - 1)
    share = min(max(share, count - len(failures)), len(successes))
    picked = list(rng.permutation(successes)[:share]) + list(rng.permutation(failures)[:count - share])
    return {str(name) for name in picked}
