"""The robot-side runtime of an exported bundle: numpy and onnxruntime, nothing else.

    policy = load_policy("bundle/")            # checksums, schema, golden vectors
    policy.reset(np.random.default_rng(0))     # per episode: CEM's random stream, watchdog
    action = policy.act({"image": frame, "gripper_closed": 0.0, "height": 0.21,
                         "tool_position": [x, y, z], "timestamp": t})
    robot.move(action.translation, action.rotation, action.gripper)  # robot units

``act`` checks the observation's age (watchdog), preprocesses the frame exactly as
training saw it, runs CEM (policies.runtime.cem, the training code's own numpy CEM) over the ONNX
Q-network, checks the grasp before ending as the evaluated policy does
(``ActionSpec.check_grasp``), converts the best action to robot units, and clamps it to the safety limits.
Whatever the network outputs, the returned action stays within the limits; when it
cannot act safely it returns a stop (``action.stop``, with ``action.reason``).

Observation keys: ``image`` (H, W, 3) uint8 camera frame (the trained size or larger);
``gripper_closed`` the measured finger closure, 0.0 open .. 1.0 closed; ``height`` fingertip height above the bin floor
(m); ``tool_position`` (3,) the commanded tool position in the workspace frame (m);
``timestamp`` capture time (s) on the clock that ``now`` (or the policy's clock) reads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import onnxruntime

from policies.runtime.admission import ROBOT_DEFAULT, admit_bundle
from policies.runtime.bundle import ONNX_INPUTS, ONNX_OUTPUTS, Bundle, BundleError
from policies.runtime.cem import CEMConfig, ScoreFn, cem_maximize
from policies.runtime.preprocess import CropBox, FrameError, Preprocessor
from policies.runtime.robot_action import ActionMapping, RobotAction
from policies.runtime.safetensors_numpy import load_safetensors
from policies.runtime.safety import SafetyLimits, Watchdog, limit_motion
from policies.runtime.spec import ACTION_DIM, CLOSURE_INDEX, STATE_DIM, ActionSpec

GOLDEN_TENSORS = ("image", "state", "actions", "logits", "raw_frame", "preprocessed",
                  "cem_image", "cem_state", "cem_action")


class ObservationError(ValueError):
    """An observation the runtime cannot use (missing key, wrong shape or dtype)."""


class OnnxQFunction:
    """The bundle's ONNX Q-network in onnxruntime: (image, state, actions) -> logits."""

    def __init__(self, path, threads: int = 1):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise BundleError(path, f"onnxruntime cannot load it ({error})") from None
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        expected = {"image": ("tensor(uint8)", 4, 3), "state": ("tensor(float)", 2, STATE_DIM),
                    "actions": ("tensor(float)", 3, ACTION_DIM)}
        if sorted(inputs) != sorted(ONNX_INPUTS) or outputs != list(ONNX_OUTPUTS):
            raise BundleError(path, f"graph takes {sorted(inputs)} and gives {outputs}; expected inputs "
                              f"{list(ONNX_INPUTS)} and outputs {list(ONNX_OUTPUTS)}")
        for name, (kind, rank, last) in expected.items():
            node = inputs[name]
            if node.type != kind or len(node.shape) != rank or node.shape[-1] != last:
                raise BundleError(path, f"input {name!r} is {node.type} {node.shape}, expected {kind} of rank "
                                  f"{rank} ending in {last}")
        self.image_shape = tuple(inputs["image"].shape[1:])

    def logits(self, image: np.ndarray, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """image (B,H,W,3) uint8, state (B,2), actions (B,K,8) -> logits (B,K) float32."""
        feeds = {"image": np.ascontiguousarray(image, dtype=np.uint8),
                 "state": np.ascontiguousarray(state, dtype=np.float32),
                 "actions": np.ascontiguousarray(actions, dtype=np.float32)}
        return self.session.run(None, feeds)[0]

    def score_fn(self, image: np.ndarray, state: np.ndarray) -> ScoreFn:
        return lambda actions: self.logits(image, state, actions)


def _sigmoid(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))


class BundlePolicy:
    """CEM over a Q-function with the bundle's preprocessing, action mapping and safety."""

    def __init__(self, bundle: Bundle, qfunction, *, safety: SafetyLimits | None = None,
                 crop: CropBox | None = None, channel_order: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.bundle = bundle
        self.qfunction = qfunction  # anything with score_fn(image, state) -> ScoreFn
        self.safety = safety if safety is not None else bundle.safety
        if safety is not None:
            bundle.safety.tightened(**safety.__dict__)  # raises if any limit is looser than the bundle's
        self.preprocess = Preprocessor(bundle.image.height, bundle.image.width, crop,
                                       channel_order or bundle.image.channel_order)
        self.mapping: ActionMapping = bundle.actions
        self.action_spec = ActionSpec(max_translation=bundle.actions.max_translation)
        self.cem: CEMConfig = bundle.cem
        self.clock = clock
        self.watchdog = Watchdog(self.safety.max_observation_age)
        self.rng = np.random.default_rng(0)
        self.stops = 0

    def reset(self, rng: np.random.Generator | int | None = None) -> None:
        """Start an episode: a fresh CEM random stream and a fresh watchdog."""
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.watchdog.reset()

    def select(self, images: np.ndarray, states: np.ndarray, rng: np.random.Generator):
        """CEM over preprocessed images (B,H,W,3) and states (B,2): the training code's CEMResult."""
        return cem_maximize(self.qfunction.score_fn(images, states), images.shape[0], self.cem, rng,
                            self.action_spec)

    def act(self, observation, now: float | None = None) -> RobotAction:
        now = self.clock() if now is None else float(now)
        if not hasattr(observation, "get"):
            raise ObservationError(f"observation must be a mapping, got {type(observation).__name__}")
        image, state, tool = self._inputs(observation)  # a malformed observation raises, stale or not
        reason = self.watchdog.check(observation.get("timestamp"), now)
        if reason is not None:
            self.stops += 1
            return RobotAction.stopped(reason)
        try:
            result = self.select(image[None], state[None], self.rng)
        except ValueError as error:  # cem_maximize: non-finite or misshapen scores
            self.stops += 1
            return RobotAction.stopped(f"Q-network output unusable: {error}")
        policy_action = self.action_spec.check_grasp(result.actions[0], float(state[CLOSURE_INDEX]))
        translation, rotation, gripper, terminate = self.mapping.to_robot(policy_action)
        motion = limit_motion(translation, rotation, tool, self.safety)
        if motion.stop_reason is not None:
            self.stops += 1
            return RobotAction.stopped(motion.stop_reason)
        return RobotAction(motion.translation, motion.rotation, gripper, terminate, limited=motion.limited,
                           q_value=_sigmoid(float(result.scores[0])), policy_action=policy_action.copy())

    def _inputs(self, observation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        for key in ("image", "gripper_closed", "height", "tool_position"):
            if key not in observation:
                raise ObservationError(f"observation has no {key!r}")
        try:
            image = self.preprocess(observation["image"])
        except FrameError as error:
            raise ObservationError(f"image: {error}") from None
        values = []
        for key in ("gripper_closed", "height"):
            array = np.asarray(observation[key], dtype=np.float64) if _numeric(observation[key]) else None
            if array is None or array.size != 1 or not np.isfinite(array).all():
                raise ObservationError(f"{key} must be one finite number, got {observation[key]!r}")
            values.append(float(array.reshape(())))
        if not 0.0 <= values[0] <= 1.0:
            raise ObservationError(f"gripper_closed must be in [0, 1] (1 closed), got {values[0]}")
        tool = np.asarray(observation["tool_position"], dtype=np.float64) if _numeric(
            observation["tool_position"]) else None
        if tool is None or tool.shape != (3,):
            raise ObservationError(f"tool_position must be 3 numbers (m), got {observation['tool_position']!r}")
        return image, np.array(values, dtype=np.float32), tool


def _numeric(value) -> bool:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return False
    return array.dtype.kind in "biuf" and array.size <= 16


def verify_golden(bundle: Bundle, qfunction: OnnxQFunction) -> dict:
    """Run the golden vectors; BundleError unless logits, preprocessing and CEM reproduce.

    Returns the worst errors seen (for reports).
    """
    expected_shape = (bundle.image.height, bundle.image.width, 3)
    if qfunction.image_shape != expected_shape:
        raise BundleError(bundle.onnx_path, f"the graph takes images {qfunction.image_shape}, the manifest says "
                          f"{expected_shape}")
    path = bundle.golden_path
    try:
        tensors, _ = load_safetensors(path.read_bytes())
    except ValueError as error:
        raise BundleError(path, f"not a readable safetensors file ({error})") from None
    missing = [name for name in GOLDEN_TENSORS if name not in tensors]
    if missing:
        raise BundleError(path, f"missing golden tensor(s) {', '.join(missing)}")
    g = tensors
    size = (bundle.image.height, bundle.image.width, 3)
    if g["image"].dtype != np.uint8 or g["image"].shape[1:] != size or g["cem_image"].shape[1:] != size:
        raise BundleError(path, f"golden images are {g['image'].shape} {g['image'].dtype}, expected (N, *{size}) "
                          "uint8")
    try:
        logits = qfunction.logits(g["image"], g["state"], g["actions"])
    except Exception as error:  # onnxruntime's own exception types
        raise BundleError(bundle.onnx_path, f"cannot run the golden inputs ({error})") from None
    expected = g["logits"].astype(np.float64)
    if logits.shape != expected.shape:
        raise BundleError(path, f"network gives logits {logits.shape}, golden logits are {expected.shape}")
    logit_error = float(np.max(np.abs(logits - expected) / np.maximum(1.0, np.abs(expected))))
    if not logit_error <= bundle.golden.logit_atol:
        raise BundleError(bundle.onnx_path, f"logits for the golden inputs differ from the exported ones by "
                          f"{logit_error:.3g} (tolerance {bundle.golden.logit_atol:g}): this onnxruntime does "
                          "not reproduce the trained network")
    preprocessor = Preprocessor(bundle.image.height, bundle.image.width, None, bundle.image.channel_order)
    try:
        processed = preprocessor(np.ascontiguousarray(g["raw_frame"]))
    except FrameError as error:
        raise BundleError(path, f"golden raw frame: {error}") from None
    preprocess_error = int(np.max(np.abs(processed.astype(np.int16) - g["preprocessed"].astype(np.int16))))
    if preprocess_error > bundle.golden.preprocess_atol:
        raise BundleError(path, f"preprocessing the golden raw frame differs from the export's by up to "
                          f"{preprocess_error} levels (tolerance {bundle.golden.preprocess_atol})")
    spec = ActionSpec(max_translation=bundle.actions.max_translation)
    result = cem_maximize(qfunction.score_fn(g["cem_image"], g["cem_state"]), g["cem_image"].shape[0], bundle.cem,
                          np.random.default_rng(bundle.golden.cem_seed), spec)
    action_error = float(np.max(np.abs(result.actions - g["cem_action"])))
    if not action_error <= bundle.golden.action_atol:
        raise BundleError(path, f"CEM with seed {bundle.golden.cem_seed} picks actions up to {action_error:.3g} away "
                          f"from the training code's (tolerance {bundle.golden.action_atol:g})")
    return {"logit_error": logit_error, "preprocess_error": preprocess_error, "cem_action_error": action_error}


def load_policy(path, *, threads: int = 1, safety: SafetyLimits | None = None, crop: CropBox | None = None,
                channel_order: str | None = None, clock: Callable[[], float] = time.monotonic,
                envelope=ROBOT_DEFAULT, require_signature=None) -> BundlePolicy:
    """Open, verify (files, schema, manifest digest, golden vectors) and wrap a bundle for acting.

    ``envelope``: the robot's limits the manifest may only narrow (policies.runtime.admission; default the
    bench cell's, None skips it); ``require_signature``: a public key file, refusing an unsigned
    or wrongly signed bundle.
    """
    bundle = admit_bundle(path, envelope=envelope, require_signature=require_signature)
    qfunction = OnnxQFunction(bundle.onnx_path, threads=threads)
    verify_golden(bundle, qfunction)
    return BundlePolicy(bundle, qfunction, safety=safety, crop=crop, channel_order=channel_order, clock=clock)
