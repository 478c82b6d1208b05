"""Export a trained Q-network as a self-contained policy bundle (see policies/runtime/bundle.py).

``export_run(RUN, OUT)`` reads a training run (config.json and checkpoint.safetensors,
as workbench.training.train writes them), and ``write_bundle`` does the work for any Q-network:

1. trace the network to ONNX (opset pinned, dynamic batch and sample counts) as one graph
   image uint8 (B,H,W,3), state (B,2), actions (B,K,8) -> logits (B,K);
2. save the weights as safetensors and draw golden vectors: seeded observations and
   actions with the torch logits, a raw camera frame with its preprocessed image, and the
   actions the training code's CEM picks for a fixed seed;
3. write the manifest (provenance, scene-derived specs, CEM, control, safety, a SHA-256 per
   file) into a temporary directory, load it back with the torch-free runtime (which checks
   everything, golden vectors included), and only then rename it into place.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from policies.qtopt.qnet import QNetwork, count_parameters
from policies.runtime.bundle import (
    FORMAT_NAME,
    GOLDEN_NAME,
    MANIFEST_NAME,
    ONNX_INPUTS,
    ONNX_NAME,
    ONNX_OPSET,
    ONNX_OUTPUTS,
    SCHEMA_VERSION,
    WEIGHTS_NAME,
    BundleError,
    sha256_file,
)
from policies.runtime.cem import CEMConfig
from policies.runtime.integrity import INTEGRITY_KEY, seal
from policies.runtime.spec import ACTION_DIM, OPEN_HAND_CLOSURE, STATE_DIM, ActionSpec
from scenes.spec import SceneSpec
from workbench.deploy.bundle_specs import (
    action_section,
    control_section,
    observation_section,
    safety_section,
    scene_geometry,
)
from workbench.errors import UserError

GOLDEN_OBSERVATIONS, GOLDEN_SAMPLES, GOLDEN_CEM_STATES = 8, 16, 4
LOGIT_TOLERANCE = 1e-4  # relative to max(1, |logit|)
ACTION_TOLERANCE = 1e-4
PREPROCESS_TOLERANCE = 1  # uint8 levels: float rounding may differ across platforms
MAX_EVALUATION_BYTES = 1 << 20  # evaluation records copied into the manifest


class _Graph(torch.nn.Module):
    """encode + score as one graph: what CEM needs per iteration."""

    def __init__(self, qnet: QNetwork):
        super().__init__()
        self.qnet = qnet

    def forward(self, image: torch.Tensor, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.qnet.score(self.qnet.encode(image, state), actions)


def onnx_bytes(qnet: QNetwork) -> bytes:
    """The Q-network as ONNX: opset ONNX_OPSET, batch and sample dimensions dynamic."""
    import onnx

    qnet = qnet.eval()
    size = qnet.image_size
    example = (torch.zeros(2, size, size, 3, dtype=torch.uint8), torch.zeros(2, STATE_DIM),
               torch.zeros(2, 3, ACTION_DIM))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy TorchScript exporter (no onnxscript needed) warns that it is legacy,
        # and the tracer that the Python-side shape checks become constants: both expected.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            _Graph(qnet), example, buffer, dynamo=False, opset_version=ONNX_OPSET, do_constant_folding=True,
            input_names=list(ONNX_INPUTS), output_names=list(ONNX_OUTPUTS),
            dynamic_axes={"image": {0: "batch"}, "state": {0: "batch"},
                          "actions": {0: "batch", 1: "samples"}, "logits": {0: "batch", 1: "samples"}},
        )
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    return data


def torch_logits(qnet: QNetwork, image: np.ndarray, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        features = qnet.encode(torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(state))
        return qnet.score(features, torch.from_numpy(np.ascontiguousarray(actions))).numpy()


def random_observations(rng: np.random.Generator, count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    states = np.stack([rng.integers(0, 2, count).astype(np.float32),
                       rng.uniform(0.0, 0.3, count).astype(np.float32)], axis=1)
    return images, states


def random_actions(rng: np.random.Generator, shape: tuple[int, ...], spec: ActionSpec) -> np.ndarray:
    actions = rng.uniform(spec.low, spec.high, (*shape, ACTION_DIM)).astype(np.float32)
    actions[..., list(spec.binary_dims)] = rng.integers(0, 2, (*shape, len(spec.binary_dims)))
    return actions


def golden_vectors(qnet: QNetwork, cem: CEMConfig, spec: ActionSpec, seed: int, cem_seed: int) -> dict:
    from policies.qtopt.action_selection import cem_select
    from policies.runtime.preprocess import Preprocessor

    rng = np.random.default_rng(seed)
    size = qnet.image_size
    image, state = random_observations(rng, GOLDEN_OBSERVATIONS, size)
    actions = random_actions(rng, (GOLDEN_OBSERVATIONS, GOLDEN_SAMPLES), spec)
    # A wider, taller camera frame: exercises the centre crop and a fractional (1.5x) area resize.
    raw_frame = rng.integers(0, 256, (size * 3 // 2, size * 2, 3), dtype=np.uint8)
    cem_image, cem_state = random_observations(rng, GOLDEN_CEM_STATES, size)
    best = cem_select(qnet, cem_image, cem_state, cem, np.random.default_rng(cem_seed), spec)
    return {"image": image, "state": state, "actions": actions, "logits": torch_logits(qnet, image, state, actions),
            "raw_frame": raw_frame, "preprocessed": Preprocessor(size, size)(raw_frame),
            "cem_image": cem_image, "cem_state": cem_state, "cem_action": best.actions, "cem_logit": best.scores}


def git_revision() -> dict:
    root = Path(__file__).resolve().parents[1]
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"git_revision": None, "git_dirty": None}
    return {"git_revision": revision, "git_dirty": bool(status.strip())}


def workbench_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("workbench")
    except PackageNotFoundError:
        return "unknown"


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_destination(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory")
    try:  # `--out bundles/NAME` in a fresh checkout: make `bundles/`
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{out.parent}: cannot create the parent directory ({error.strerror or error})") from None


def write_bundle(qnet: QNetwork, out: str | Path, *, cem: CEMConfig, scene_spec: SceneSpec, scene_source: str,
                 profile: str, provenance: dict | None = None, evaluation: list | None = None, seed: int = 0,
                 max_observation_age: float | None = None, force: bool = False,
                 cem_choice: dict | None = None) -> dict:
    """Write and verify a bundle for ``qnet``; returns the manifest. ``out`` appears only when valid.

    ``cem_choice`` (how ``cem`` was chosen: ``latency_budget_ms``, ``measured_latency_ms`` and a
    description ``chosen_by``) goes into the manifest's cem section."""
    from policies.runtime.policy import load_policy

    out = Path(out)
    check_destination(out, force)
    if (scene_spec.camera.width, scene_spec.camera.height) != (qnet.image_size, qnet.image_size):
        raise UserError(f"the scene camera renders {scene_spec.camera.width}x{scene_spec.camera.height}, the "
                        f"network takes {qnet.image_size}x{qnet.image_size}")
    spec = ActionSpec(max_translation=scene_spec.task.max_translation)
    geometry = scene_geometry(scene_spec)
    tensors = {name: value.detach().cpu().contiguous().numpy() for name, value in qnet.state_dict().items()}
    for name, value in tensors.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise UserError(f"weights: {name} holds NaN or infinite values ({int(np.sum(~np.isfinite(value)))} of "
                            f"{value.size}): the network cannot be exported")
    golden = golden_vectors(qnet, cem, spec, seed, cem_seed=seed + 1)

    import safetensors.numpy

    weights_meta = {"workbench.bundle_weights": json.dumps({"arch": qnet.arch, "image_size": qnet.image_size})}
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; a bundle is shared like any directory
        _write(staging / ONNX_NAME, onnx_bytes(qnet))
        _write(staging / WEIGHTS_NAME, safetensors.numpy.save(tensors, metadata=weights_meta))
        _write(staging / GOLDEN_NAME, safetensors.numpy.save(golden))
        files = {name: {"sha256": sha256_file(staging / name), "bytes": (staging / name).stat().st_size}
                 for name in (ONNX_NAME, WEIGHTS_NAME, GOLDEN_NAME)}
        manifest = {
            "format": FORMAT_NAME,
            "schema_version": SCHEMA_VERSION,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "workbench": {"version": workbench_version(), **git_revision()},
            "source": provenance or {},
            "training": {"scene": scene_source, "profile": profile, "scene_spec": scene_spec.model_dump(mode="json")},
            "evaluation": evaluation or [],
            "model": {
                "arch": qnet.arch, "image_size": qnet.image_size, "parameters": count_parameters(qnet),
                "output": "logit per (state, action); Q = sigmoid(logit), the predicted grasp success",
                "onnx": {"file": ONNX_NAME, "opset": ONNX_OPSET,
                         "inputs": {"image": {"dtype": "uint8",
                                              "shape": ["batch", qnet.image_size, qnet.image_size, 3]},
                                    "state": {"dtype": "float32", "shape": ["batch", STATE_DIM]},
                                    "actions": {"dtype": "float32", "shape": ["batch", "samples", ACTION_DIM]}},
                         "outputs": {"logits": {"dtype": "float32", "shape": ["batch", "samples"]}}},
                "weights": {"file": WEIGHTS_NAME, "format": "safetensors",
                            "loads_into": f"policies.qtopt.qnet.build_qnet({qnet.arch!r}, {qnet.image_size}, "
                                            f"max_translation={qnet.max_translation})"},
            },
            "observation": observation_section(scene_spec, geometry),
            "action": action_section(scene_spec),
            "cem": {"iterations": cem.iterations, "samples": cem.samples, "elites": cem.elites,
                    "initial_std": cem.initial_std,
                    "implementation": "policies.runtime.cem.cem_maximize; per iteration it draws "
                                      "rng.standard_normal((B, K, 5)) then rng.random((B, K, 3)) from a "
                                      "numpy Generator; samples are scored and returned with zero "
                                      "translation where they close the gripper (ActionSpec.close_in_place); "
                                      "the answer is the best sample scored; from a state whose closure "
                                      f"is below {OPEN_HAND_CLOSURE}, the policy sends closing and "
                                      "terminating as closing only (ActionSpec.check_grasp)",
                    **_cem_choice_fields(cem_choice)},
            "control": control_section(scene_spec),
            "safety": safety_section(scene_spec, geometry, max_observation_age),
            "golden": {"file": GOLDEN_NAME, "logit_atol": LOGIT_TOLERANCE, "preprocess_atol": PREPROCESS_TOLERANCE,
                       "action_atol": ACTION_TOLERANCE, "seed": seed, "cem_seed": seed + 1,
                       "tensors": {name: {"dtype": str(value.dtype), "shape": list(value.shape)}
                                   for name, value in golden.items()}},
            "files": files,
        }
        manifest[INTEGRITY_KEY] = seal(manifest)  # any later edit of the manifest is refused on load
        _write(staging / MANIFEST_NAME, json.dumps(manifest, indent=2, allow_nan=False).encode())
        _fsync_dir(staging)
        try:
            # The robot's own check: files, schema, golden vectors in onnxruntime (not a robot's envelope:
            # that is checked where the bundle drives).
            load_policy(staging, envelope=None)
        except BundleError as error:
            raise UserError(f"the exported bundle fails its own verification: {error}") from None
        _replace_directory(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _cem_choice_fields(choice: dict | None) -> dict:
    """The manifest's record of how its CEM was chosen (policies.runtime.bundle reads these fields)."""
    if not choice:
        return {}
    return {"latency_budget_ms": float(choice["latency_budget_ms"]),
            "measured_latency_ms": float(choice["measured_latency_ms"]),
            "chosen_by": str(choice.get("chosen_by", ""))}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace_directory(staging: Path, out: Path) -> None:
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
        os.rename(out, old / out.name)
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, out)
    _fsync_dir(out.parent)


def run_evaluations(run_dir: Path) -> list:
    """Evaluation records the run holds: eval*.json files, `workbench eval --suite` reports
    (reports/eval-*/report.json) and the greedy evaluations in history.json."""
    records = []
    paths = sorted(run_dir.glob("eval*.json")) + sorted(run_dir.glob("reports/eval-*/report.json"))
    for path in paths:
        try:
            if path.stat().st_size > MAX_EVALUATION_BYTES:
                continue
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(record, dict):
            records.append({"file": str(path.relative_to(run_dir)), **record})
    history = run_dir / "history.json"
    if history.is_file():
        try:
            points = json.loads(history.read_text())
        except (OSError, json.JSONDecodeError):
            points = []
        evals = [p for p in points if isinstance(p, dict) and p.get("eval_success") is not None]
        if evals:
            records.append({"file": "history.json", "kind": "greedy evaluation on train objects during training",
                            "points": [{"step": p.get("step"), "success": p["eval_success"]} for p in evals]})
    return records


def export_run(run_dir: str | Path, out: str | Path, *, force: bool = False, seed: int = 0,
               max_observation_age: float | None = None) -> dict:
    """Bundle the last checkpoint of a training run; returns a short summary."""
    from policies.qtopt.checkpoint import CheckpointError, learner_from_checkpoint
    from scenes.spec import load_scene
    from workbench.rollout.qtopt_policy import CHECKPOINT_NAME, run_acting_cem
    from workbench.training.config import RunPaths, load_run_config

    torch.set_num_threads(1)
    paths = RunPaths(run_dir)
    out = Path(out)
    if not paths.root.is_dir():
        raise UserError(f"{paths.root}: no such run directory")
    if not paths.checkpoint.is_file():
        raise UserError(f"{paths.root}: no {CHECKPOINT_NAME} (not a training run, or it has not saved yet)")
    check_destination(out, force)
    config = load_run_config(paths)
    try:
        learner, info = learner_from_checkpoint(paths.checkpoint)
    except CheckpointError as error:
        raise UserError(str(error)) from None
    qcfg = info.config
    scene_spec = load_scene(config.scene)
    camera = scene_spec.camera.model_copy(update={"width": qcfg.image_size, "height": qcfg.image_size})
    scene_spec = scene_spec.model_copy(update={"camera": camera})  # as GraspEnv(image_size=...) does
    if not np.isclose(scene_spec.task.max_translation, qcfg.max_translation):
        raise UserError(f"{paths.root} was trained with max_translation {qcfg.max_translation}, its scene "
                        f"{config.scene!r} has {scene_spec.task.max_translation}")
    cem, choice = run_acting_cem(paths.root, qcfg.act_cem)  # acting_cem.json, when the run chose one
    provenance = {"run": str(paths.root.resolve()), "checkpoint": CHECKPOINT_NAME,
                  "checkpoint_sha256": sha256_file(paths.checkpoint), "learner_step": info.learner_step,
                  "seed": config.seed, "config": json.loads(config.model_dump_json())}
    manifest = write_bundle(learner.policy_net, out, cem=cem, scene_spec=scene_spec, scene_source=config.scene,
                            profile=config.finetune_look, provenance=provenance,
                            evaluation=run_evaluations(paths.root), seed=seed,
                            max_observation_age=max_observation_age, force=force, cem_choice=choice)
    return {"bundle": str(out), "run": str(paths.root), "arch": qcfg.arch, "image_size": qcfg.image_size,
            "learner_step": info.learner_step, "scene": config.scene, "profile": config.finetune_look,
            "cem": {k: manifest["cem"][k] for k in ("iterations", "samples", "elites", "initial_std")},
            "files": {name: entry["bytes"] for name, entry in manifest["files"].items()}}
