"""The exported policy bundle: its layout, its manifest schema, and verification.

A bundle is a directory:

    manifest.json         everything below, plus provenance and a SHA-256 per file
    qnet.onnx             Q-network: image uint8 (B,H,W,3), state float32 (B,2),
                          actions float32 (B,K,8) -> logits float32 (B,K); Q = sigmoid
    weights.safetensors   the same weights for torch (the acting network's state_dict:
                          the learner's Polyak-averaged target, Learner.policy_net)
    golden.safetensors    golden inputs and outputs the runtime checks on load

``open_bundle`` reads and checks the manifest (schema version, required fields and their
types) and every file (present, listed, size, SHA-256), and returns a typed ``Bundle``;
the runtime then runs the golden vectors through onnxruntime. Every refusal is a
``BundleError`` naming the file and the reason. numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.runtime.cem import CEMConfig
from policies.runtime.files import FileProblem
from policies.runtime.input_files import InputFileError, parse_json_bytes, read_bytes
from policies.runtime.integrity import INTEGRITY_KEY, edited_sections
from policies.runtime.preprocess import CHANNEL_ORDERS
from policies.runtime.robot_action import ActionMapping
from policies.runtime.safety import SafetyLimits

SCHEMA_VERSION = 1
FORMAT_NAME = "workbench-policy-bundle"
MANIFEST_NAME = "manifest.json"
ONNX_NAME = "qnet.onnx"
WEIGHTS_NAME = "weights.safetensors"
GOLDEN_NAME = "golden.safetensors"
ONNX_OPSET = 17
ONNX_INPUTS = ("image", "state", "actions")
ONNX_OUTPUTS = ("logits",)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
SIGNATURE_NAME = "signature.json"  # policies.runtime.signing: the only file the manifest cannot list
# Bounded work at load: limits that keep one action within the runtime's latency budget (the
# paper acts with 2 x 64 CEM samples at 64 px; these allow ~30x that) and loading bounded.
MAX_IMAGE_SIZE = 1024  # px, as the scene camera's own limit
MAX_CEM_ITERATIONS = 10
MAX_CEM_SAMPLES = 1024
MAX_CEM_SCORES = 4096  # iterations x samples: Q-network evaluations per action
MAX_BUNDLE_FILES = 16
MAX_BUNDLE_FILE_BYTES = 1 << 30
MAX_SEED = 2**63 - 1


class BundleError(FileProblem):
    """A bundle the runtime refuses; ``path`` is the offending file."""


@dataclass(frozen=True)
class ImageSpec:
    height: int
    width: int
    channel_order: str


@dataclass(frozen=True)
class GoldenSpec:
    file: str
    logit_atol: float
    preprocess_atol: int
    action_atol: float
    cem_seed: int


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict
    image: ImageSpec
    actions: ActionMapping
    cem: CEMConfig
    control_rate_hz: float
    safety: SafetyLimits
    golden: GoldenSpec
    onnx_file: str
    fingerprint: str  # SHA-256 of manifest.json: names this exact bundle (it holds every file's hash)
    # How the CEM was chosen (optional: bundles exported without a choice have neither): the latency
    # budget one action had, and the median action latency measured when choosing (ms).
    latency_budget_ms: float | None = None
    measured_latency_ms: float | None = None

    @property
    def onnx_path(self) -> Path:
        return self.path / self.onnx_file

    @property
    def golden_path(self) -> Path:
        return self.path / self.golden.file


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Fields:
    """Typed access to manifest fields by dotted path; errors name the path and the value."""

    def __init__(self, manifest: dict, path: Path):
        self.manifest, self.path = manifest, path

    def get(self, dotted: str) -> Any:
        node: Any = self.manifest
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise BundleError(self.path, f"field {dotted} is missing")
            node = node[part]
        return node

    def integer(self, dotted: str, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.get(dotted)
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            raise BundleError(self.path, f"field {dotted} = {value!r}: expected an integer"
                              + (f" >= {minimum}" if minimum is not None else ""))
        if maximum is not None and value > maximum:
            raise BundleError(self.path, f"field {dotted} = {value!r}: over the limit {maximum} (bounded work "
                              "at load: one action must fit the runtime's latency budget)")
        return value

    def number(self, dotted: str, positive: bool = True) -> float:
        value = self.get(dotted)
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or (positive and value <= 0)):
            raise BundleError(self.path, f"field {dotted} = {value!r}: expected a {'positive ' if positive else ''}"
                              "finite number")
        return float(value)

    def vector(self, dotted: str, length: int) -> tuple[float, ...]:
        value = self.get(dotted)
        if (not isinstance(value, list) or len(value) != length
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in value)):
            raise BundleError(self.path, f"field {dotted} = {value!r}: expected {length} finite numbers")
        return tuple(float(v) for v in value)

    def choice(self, dotted: str, choices) -> str:
        value = self.get(dotted)
        if value not in choices:
            raise BundleError(self.path, f"field {dotted} = {value!r}: expected one of {list(choices)}")
        return value

    def file_name(self, dotted: str) -> str:
        value = self.get(dotted)
        if not _plain_name(value):
            raise BundleError(self.path, f"field {dotted} = {value!r}: expected a plain file name in the bundle")
        return value


def _plain_name(name) -> bool:
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and "/" not in name and "\\" not in name and "\0" not in name)


def read_manifest(bundle_dir: Path) -> tuple[dict, bytes]:
    """The parsed manifest and its bytes, after the schema-version check (nothing else checked yet)."""
    path = bundle_dir / MANIFEST_NAME
    if not bundle_dir.is_dir():
        raise BundleError(bundle_dir, "not a bundle directory (it does not exist or is a file)")
    if not path.exists():
        raise BundleError(path, "missing: every bundle has a manifest.json")
    try:
        raw = read_bytes(path, MAX_MANIFEST_BYTES)
        manifest = parse_json_bytes(raw, path)
    except InputFileError as error:
        raise BundleError(path, error.problem) from None
    if not isinstance(manifest, dict):
        raise BundleError(path, "not a JSON object")
    if manifest.get("format") != FORMAT_NAME:
        raise BundleError(path, f"format is {manifest.get('format')!r}, expected {FORMAT_NAME!r}")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BundleError(path, f"schema_version {version!r} is not an integer")
    if version > SCHEMA_VERSION:
        raise BundleError(path, f"schema version {version} is newer than this runtime reads ({SCHEMA_VERSION}); "
                          "update the runtime to load this bundle")
    if version != SCHEMA_VERSION:
        raise BundleError(path, f"schema version {version} is not supported (this runtime reads {SCHEMA_VERSION})")
    return manifest, raw


def verify_files(bundle_dir: Path, manifest: dict, required: tuple[str, ...]) -> None:
    """Every listed file present with its size and SHA-256; nothing unlisted; required ones listed."""
    manifest_path = bundle_dir / MANIFEST_NAME
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(manifest_path, "field files is missing or empty")
    if len(files) > MAX_BUNDLE_FILES:
        raise BundleError(manifest_path, f"field files lists {len(files)} files, over the limit {MAX_BUNDLE_FILES}")
    for name in required:
        if name not in files:
            raise BundleError(bundle_dir / name, "not listed in manifest.json files")
    for name, entry in files.items():
        if not _plain_name(name) or name in (MANIFEST_NAME, SIGNATURE_NAME):
            raise BundleError(manifest_path, f"files lists {name!r}, not a plain file name of the bundle")
        if (not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)
                or not isinstance(entry.get("bytes"), int) or isinstance(entry.get("bytes"), bool)):
            raise BundleError(manifest_path, f"files.{name} needs a sha256 string and a bytes count")
        if not 0 <= entry["bytes"] <= MAX_BUNDLE_FILE_BYTES:
            raise BundleError(manifest_path, f"field files.{name}.bytes = {entry['bytes']}: outside 0.."
                              f"{MAX_BUNDLE_FILE_BYTES}")
        path = bundle_dir / name
        if not path.exists():
            raise BundleError(path, "missing (listed in manifest.json)")
        if not path.is_file():
            raise BundleError(path, "not a regular file (listed in manifest.json)")
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise BundleError(path, f"{size} bytes, the manifest says {entry['bytes']}: file was changed or cut")
        if sha256_file(path) != entry["sha256"].lower():
            raise BundleError(path, "SHA-256 does not match the manifest: the file was changed after export")
    for child in sorted(bundle_dir.iterdir()):
        if child.name not in (MANIFEST_NAME, SIGNATURE_NAME) and child.name not in files:
            raise BundleError(child, "not listed in manifest.json (an unexpected file in the bundle)")


def open_bundle(path: str | os.PathLike) -> Bundle:
    """Read and check a bundle's manifest and files (not yet the golden vectors)."""
    bundle_dir = Path(path)
    manifest, raw = read_manifest(bundle_dir)
    f = _Fields(manifest, bundle_dir / MANIFEST_NAME)

    image_size = f.integer("model.image_size", minimum=1, maximum=MAX_IMAGE_SIZE)
    onnx_file = f.file_name("model.onnx.file")
    opset = f.integer("model.onnx.opset")
    if opset != ONNX_OPSET:
        raise BundleError(f.path, f"field model.onnx.opset = {opset}: this runtime is pinned to opset {ONNX_OPSET}")
    image = ImageSpec(f.integer("observation.image.height", 1, MAX_IMAGE_SIZE),
                      f.integer("observation.image.width", 1, MAX_IMAGE_SIZE),
                      f.choice("observation.image.channel_order", CHANNEL_ORDERS))
    f.choice("observation.image.dtype", ("uint8",))
    if (image.height, image.width) != (image_size, image_size):
        raise BundleError(f.path, f"observation.image is {image.width}x{image.height} but model.image_size is "
                          f"{image_size}")
    actions = ActionMapping(f.number("action.max_translation_m"), f.number("action.max_rotation_rad"),
                            f.number("action.binary_threshold"))
    try:
        cem = CEMConfig(iterations=f.integer("cem.iterations", 1, MAX_CEM_ITERATIONS),
                        samples=f.integer("cem.samples", 1, MAX_CEM_SAMPLES),
                        elites=f.integer("cem.elites", 1, MAX_CEM_SAMPLES), initial_std=f.number("cem.initial_std"))
        latency = {key: f.number(f"cem.{key}") if key in manifest["cem"] else None
                   for key in ("latency_budget_ms", "measured_latency_ms")}
        if cem.iterations * cem.samples > MAX_CEM_SCORES:
            raise BundleError(f.path, f"field cem.samples = {cem.samples} with cem.iterations = {cem.iterations}: "
                              f"{cem.iterations * cem.samples} Q-network scores per action, over the limit "
                              f"{MAX_CEM_SCORES} (bounded work at load: one action must fit the runtime's "
                              "latency budget)")
        safety = SafetyLimits(f.vector("safety.workspace_low_m", 3), f.vector("safety.workspace_high_m", 3),
                              f.number("safety.max_translation_m"), f.number("safety.max_rotation_rad"),
                              f.number("safety.max_observation_age_s"))
    except ValueError as error:
        if isinstance(error, BundleError):
            raise
        raise BundleError(f.path, str(error)) from None
    golden = GoldenSpec(f.file_name("golden.file"), f.number("golden.logit_atol"),
                        f.integer("golden.preprocess_atol", 0, 255), f.number("golden.action_atol"),
                        f.integer("golden.cem_seed", 0, MAX_SEED))
    control_rate = f.number("control.rate_hz")
    verify_files(bundle_dir, manifest, required=(onnx_file, golden.file))
    edited = edited_sections(manifest)
    if edited == [INTEGRITY_KEY]:
        raise BundleError(f.path, f"field {INTEGRITY_KEY} is missing or malformed: the manifest cannot be checked "
                          "for edits (export the bundle again)")
    if edited:
        fields = f"field {edited[0]} was" if len(edited) == 1 else f"fields {', '.join(edited)} were"
        raise BundleError(f.path, f"{fields} edited after export: the manifest does not match its "
                          f"{INTEGRITY_KEY} digest")
    return Bundle(bundle_dir, manifest, image, actions, cem, control_rate, safety, golden, onnx_file,
                  hashlib.sha256(raw).hexdigest(), **latency)
