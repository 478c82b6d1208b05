"""The runtime never exceeds its safety limits, whatever the Q-network says (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bundle_helpers import export, make_run, observation
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from policies.runtime.bundle import open_bundle
from policies.runtime.policy import BundlePolicy, ObservationError
from policies.runtime.robot_action import GRIPPER_COMMANDS, ActionMapping
from policies.runtime.safety import BOX_TOLERANCE, SafetyLimits, limit_motion


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    return open_bundle(export(make_run(root / "run"), root / "bundle"))


class ArbitraryQ:
    """A Q-function whose outputs hypothesis chooses: any floats, NaN and infinities included."""

    def __init__(self, data):
        self.data = data

    def score_fn(self, image, state):
        def score(actions):
            batch, samples = actions.shape[:2]
            # ``fill``: most entries share one drawn value (ties), the rest are drawn one by one.
            return self.data.draw(arrays(np.float64, (batch, samples), elements=anything, fill=anything))
        return score


finite = st.floats(-10.0, 10.0, allow_nan=False)
anything = st.floats(allow_nan=True, allow_infinity=True)


def assert_within(action, limits: SafetyLimits, tool: np.ndarray) -> None:
    assert action.gripper in GRIPPER_COMMANDS
    assert np.all(np.isfinite(action.translation)) and math.isfinite(action.rotation)
    assert np.all(np.abs(action.translation) <= limits.max_translation)
    assert abs(action.rotation) <= limits.max_rotation
    if action.stop:
        assert not action.translation.any() and action.rotation == 0 and action.gripper == "hold"
        assert not action.terminate and action.reason
        return
    target = tool + action.translation
    assert np.all(target >= np.asarray(limits.workspace_low) - BOX_TOLERANCE)
    assert np.all(target <= np.asarray(limits.workspace_high) + BOX_TOLERANCE)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), where=arrays(np.float64, 3, elements=st.one_of(st.floats(0.0, 1.0), st.floats(-0.2, 1.2))),
       shrink=st.floats(0.05, 1.0), age=st.one_of(st.floats(0.0, 0.19), st.floats(-1.0, 1.0)))
def test_no_q_network_output_makes_the_runtime_exceed_its_limits(bundle, data, where, shrink, age):
    base = bundle.safety
    centre = (np.asarray(base.workspace_low) + np.asarray(base.workspace_high)) / 2
    half = (np.asarray(base.workspace_high) - np.asarray(base.workspace_low)) / 2 * shrink
    limits = base.tightened(workspace_low=tuple(centre - half), workspace_high=tuple(centre + half),
                            max_translation=base.max_translation * shrink, max_rotation=base.max_rotation * shrink)
    tool = centre - half + where * 2 * half  # mostly inside the box, sometimes outside
    policy = BundlePolicy(bundle, ArbitraryQ(data), safety=limits)
    policy.reset(data.draw(st.integers(0, 2**32)))
    obs = observation(bundle, timestamp=100.0)
    obs["tool_position"] = tool
    action = policy.act(obs, now=100.0 + age)
    event(f"stop: {action.reason.split(':')[0]}" if action.stop else f"move, limited by {action.limited}")
    assert_within(action, limits, tool)
    if abs(age) > limits.max_observation_age:
        assert action.stop and ("stale" in action.reason or "future" in action.reason)


def test_finite_q_values_give_moves_not_stops(bundle):
    class Constant:
        def score_fn(self, image, state):
            return lambda actions: np.linspace(0, 1, actions.shape[1])[None].repeat(actions.shape[0], 0)

    policy = BundlePolicy(bundle, Constant())
    action = policy.act(observation(bundle, timestamp=100.0), now=100.0)
    assert not action.stop and action.q_value == pytest.approx(1 / (1 + math.exp(-1)))


@pytest.mark.parametrize("closure, ends", [(0.0, False), (0.98, True)])
def test_the_runtime_checks_the_grasp_before_ending_as_evaluation_does(bundle, closure, ends):
    class PrefersCloseAndEnd:
        def score_fn(self, image, state):
            return lambda actions: actions[..., 5] + actions[..., 7] - actions[..., 6]

    policy = BundlePolicy(bundle, PrefersCloseAndEnd())
    obs = observation(bundle, timestamp=100.0)
    obs["gripper_closed"] = closure
    action = policy.act(obs, now=100.0)
    assert action.gripper == "close" and action.terminate == ends and action.policy_action[7] == float(ends)


@settings(max_examples=300, deadline=None)
@given(translation=st.lists(anything, min_size=3, max_size=3), rotation=anything,
       tool=arrays(np.float64, 3, elements=st.floats(-1.0, 1.0)))
def test_limit_motion_on_any_input(translation, rotation, tool):
    limits = SafetyLimits((-0.13, -0.13, 0.01), (0.13, 0.13, 0.33), 0.05, 0.5, 0.2)
    motion = limit_motion(translation, rotation, tool, limits)
    assert np.all(np.isfinite(motion.translation)) and math.isfinite(motion.rotation)
    assert np.all(np.abs(motion.translation) <= limits.max_translation)
    assert abs(motion.rotation) <= limits.max_rotation
    inside = np.all(tool >= np.asarray(limits.workspace_low)) and np.all(tool <= np.asarray(limits.workspace_high))
    if not inside:
        assert motion.stop_reason and "outside the workspace" in motion.stop_reason
    else:
        target = tool + motion.translation
        assert np.all(target >= np.asarray(limits.workspace_low) - 1e-12)
        assert np.all(target <= np.asarray(limits.workspace_high) + 1e-12)


@settings(max_examples=200, deadline=None)
@given(action=arrays(np.float32, 8, elements=st.floats(-1.0, 1.0, width=32)))
def test_action_mapping_round_trips(action):
    mapping = ActionMapping(0.05, 0.5)
    translation, rotation, gripper, terminate = mapping.to_robot(action)
    again = mapping.to_robot(mapping.to_policy(translation, rotation, gripper, terminate))
    assert np.allclose(again[0], translation) and math.isclose(again[1], rotation, abs_tol=1e-6)
    assert again[2:] == (gripper, terminate)
    assert abs(rotation) <= 0.5


def test_the_watchdog_stops_on_stale_repeated_and_undated_observations(bundle):
    from policies.runtime.policy import OnnxQFunction

    policy = BundlePolicy(bundle, OnnxQFunction(bundle.onnx_path))
    policy.reset(0)
    assert not policy.act(observation(bundle, timestamp=10.0), now=10.05).stop
    repeated = policy.act(observation(bundle, timestamp=10.0), now=10.06)
    assert repeated.stop and "not newer" in repeated.reason
    stale = policy.act(observation(bundle, timestamp=10.1), now=10.1 + 0.25)
    assert stale.stop and "stale" in stale.reason
    undated = observation(bundle)
    undated.pop("timestamp")
    assert "not a number" in policy.act(undated, now=11.0).reason
    assert not policy.act(observation(bundle, timestamp=11.0), now=11.01).stop  # fresh frames act again
    assert policy.stops == 3


def test_a_tool_outside_the_workspace_gets_a_stop(bundle):
    from policies.runtime.policy import OnnxQFunction

    policy = BundlePolicy(bundle, OnnxQFunction(bundle.onnx_path))
    obs = observation(bundle)
    obs["tool_position"] = np.array([0.0, 0.0, 1.0])
    action = policy.act(obs, now=100.0)
    assert action.stop and "outside the workspace" in action.reason


def test_bad_observations_raise_a_clear_error(bundle):
    from policies.runtime.policy import OnnxQFunction

    policy = BundlePolicy(bundle, OnnxQFunction(bundle.onnx_path))
    for key, value, message in [("image", np.zeros((64, 64, 3), np.float32), "uint8"),
                                ("height", float("nan"), "finite"), ("gripper_closed", 3.0, r"\[0, 1\]"),
                                ("tool_position", [0.0, 0.1], "3 numbers"), ("height", "high", "finite")]:
        obs = observation(bundle, timestamp=policy.watchdog.last_timestamp + 1 if policy.watchdog.last_timestamp
                          > 0 else 100.0)
        obs[key] = value
        with pytest.raises(ObservationError, match=message):
            policy.act(obs, now=obs["timestamp"])


def test_limits_can_be_tightened_never_loosened(bundle):
    with pytest.raises(ValueError, match="max_translation"):
        bundle.safety.tightened(max_translation=1.0)
    with pytest.raises(ValueError, match="workspace_high"):
        BundlePolicy(bundle, None, safety=SafetyLimits(bundle.safety.workspace_low, (1.0, 1.0, 1.0), 0.01, 0.1, 0.1))
    assert bundle.safety.tightened(max_rotation=0.1).max_rotation == 0.1
