"""CEM: finds known maxima, is reproducible from its seed, stays in bounds, validates config."""

import numpy as np
import pytest
import torch

from policies.qtopt.action_selection import cem_select
from policies.qtopt.qnet import build_qnet
from policies.runtime.cem import CEMConfig, cem_maximize
from policies.runtime.spec import ACTION_DIM, ActionSpec

pytestmark = pytest.mark.usefixtures("single_torch_thread")


SPEC = ActionSpec()
HALF_RANGE = (SPEC.high[:5] - SPEC.low[:5]) / 2
BEST_BINARY = np.array([0.0, 1.0, 1.0])  # open and terminate: a move that does not close


def quadratic_problem(batch: int, seed: int):
    """A negative quadratic per state, optimum inside the bounds, best binary setting [0, 1, 1]."""
    rng = np.random.default_rng(seed)
    optimum = rng.uniform(SPEC.low[:5] * 0.6, SPEC.high[:5] * 0.6, (batch, 5))

    def score(actions: np.ndarray) -> np.ndarray:
        continuous = (((actions[:, :, :5] - optimum[:, None]) / HALF_RANGE) ** 2).sum(-1)
        binary = ((actions[:, :, 5:] - BEST_BINARY) ** 2).sum(-1)
        return -(continuous + binary)

    return optimum, score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cem_finds_the_maximum_of_a_known_function(seed):
    optimum, score = quadratic_problem(batch=16, seed=seed)
    config = CEMConfig(iterations=8, samples=200, elites=20)
    result = cem_maximize(score, 16, config, np.random.default_rng(seed))
    # Within 3% of each dim's half range: 1.5 mm on translations, 0.03 on sin/cos.
    relative_error = np.abs(result.actions[:, :5] - optimum) / HALF_RANGE
    assert relative_error.max() < 0.03
    np.testing.assert_array_equal(result.actions[:, 5:], np.tile(BEST_BINARY, (16, 1)))
    np.testing.assert_allclose(result.scores, score(result.actions[:, None, :])[:, 0], rtol=1e-5, atol=1e-6)


def test_default_cem_gets_the_binary_setting_and_improves_on_the_centre():
    optimum, score = quadratic_problem(batch=32, seed=3)
    result = cem_maximize(score, 32, CEMConfig(), np.random.default_rng(3))
    centre = np.zeros((32, 1, ACTION_DIM))
    centre[:, :, 5:] = BEST_BINARY
    assert np.all(result.actions[:, 5:] == BEST_BINARY)
    assert np.mean(result.scores) > np.mean(score(centre))


def test_cem_is_deterministic_given_the_seed():
    _, score = quadratic_problem(batch=4, seed=0)
    first = cem_maximize(score, 4, CEMConfig(), np.random.default_rng(42))
    second = cem_maximize(score, 4, CEMConfig(), np.random.default_rng(42))
    other = cem_maximize(score, 4, CEMConfig(), np.random.default_rng(43))
    np.testing.assert_array_equal(first.actions, second.actions)
    np.testing.assert_array_equal(first.scores, second.scores)
    assert not np.array_equal(first.actions, other.actions)


def test_cem_respects_bounds_and_binary_values_even_when_the_optimum_is_outside():
    spec = ActionSpec(max_translation=0.02)
    seen = []

    def push_outwards(actions):
        seen.append(actions.copy())
        return actions[:, :, :5].sum(-1) * 100.0  # maximum far beyond the upper bounds

    result = cem_maximize(push_outwards, 3, CEMConfig(initial_std=3.0), np.random.default_rng(0), spec)
    for actions in [*seen, result.actions]:
        assert actions.dtype == np.float32
        assert spec.contains(actions)
        assert set(np.unique(actions[..., 5:])) <= {0.0, 1.0}
    # Out-of-bounds draws are clipped onto the bound, which is where this optimum lies.
    on_upper_bound = np.isclose(result.actions[:, :5], spec.high[:5])
    assert on_upper_bound.mean() > 0.5


def test_returned_action_is_the_best_sample_seen():
    rng_scores = np.random.default_rng(5)
    history = []

    def random_scores(actions):
        scores = rng_scores.standard_normal(actions.shape[:2])
        history.append((actions.copy(), scores))
        return scores

    result = cem_maximize(random_scores, 2, CEMConfig(iterations=3), np.random.default_rng(0))
    all_actions = np.concatenate([a for a, _ in history], axis=1)
    all_scores = np.concatenate([s for _, s in history], axis=1)
    best = all_scores.argmax(axis=1)
    np.testing.assert_array_equal(result.actions, all_actions[np.arange(2), best])
    np.testing.assert_allclose(result.scores, all_scores.max(axis=1), rtol=1e-6)


def test_closing_actions_are_scored_and_returned_without_translation():
    # Closing pays most, and so would moving to the quadratic's optimum: a closing action may
    # not move, so the best is to close in place, and no closing action scored may move.
    optimum, quadratic = quadratic_problem(batch=8, seed=4)
    scored = []

    def score(actions):
        scored.append(actions.copy())
        return quadratic(actions) + 4.0 * actions[:, :, 5]

    result = cem_maximize(score, 8, CEMConfig(iterations=4, samples=128, elites=10), np.random.default_rng(4))
    assert np.all(result.actions[:, 5] == 1.0)
    np.testing.assert_array_equal(result.actions[:, :3], 0.0)
    np.testing.assert_allclose(result.scores, score(result.actions[:, None, :])[:, 0], rtol=1e-5, atol=1e-6)
    seen = np.concatenate(scored, axis=1)
    closing = (seen[..., 5] == 1.0) & (seen[..., 5] >= seen[..., 6])
    assert closing.any() and (~closing).any()
    np.testing.assert_array_equal(seen[closing][:, :3], 0.0)
    assert np.abs(seen[~closing][:, :3]).max() > 0.0  # moves that do not close still translate


def test_close_in_place_follows_the_environments_gripper_rule():
    actions = np.zeros((4, ACTION_DIM), np.float32)
    actions[:, :3] = 0.01
    actions[:, 5:7] = [[1, 0], [1, 1], [0, 1], [0.4, 0]]  # close; both (closes); open; neither
    sent = SPEC.close_in_place(actions)
    np.testing.assert_array_equal(sent[:2, :3], 0.0)
    np.testing.assert_array_equal(sent[2:, :3], actions[2:, :3])
    np.testing.assert_array_equal(sent[:, 3:], actions[:, 3:])
    assert np.all(actions[:, :3] > 0)  # the input is left alone


@pytest.mark.parametrize("closure, close, ends", [
    (0.05, 1.0, False),  # open hand, close and end: closes only, ends after seeing the closure
    (0.95, 1.0, True),  # shut on nothing: ending now is the policy's informed choice
    (0.70, 1.0, True),  # holding something
    (0.05, 0.0, True),  # ending with an open hand without closing is left alone
])
def test_check_grasp_ends_an_episode_only_after_the_hand_has_closed(closure, close, ends):
    action = np.array([0, 0, 0, 0, 1, close, 0, 1], np.float32)
    sent = SPEC.check_grasp(action, closure)
    assert (sent[7] > 0.5) == ends
    np.testing.assert_array_equal(sent[:7], action[:7])
    assert action[7] == 1.0  # the input is left alone


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"samples": 4, "elites": 6}, "elites"),
        ({"samples": 0}, "samples"),
        ({"iterations": 0}, "iterations"),
        ({"elites": -1}, "elites"),
        ({"initial_std": 0.0}, "initial_std"),
        ({"initial_std": float("nan")}, "initial_std"),
    ],
)
def test_invalid_cem_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CEMConfig(**kwargs)


def test_score_fn_with_the_wrong_shape_is_reported():
    with pytest.raises(ValueError, match="shape"):
        cem_maximize(lambda a: np.zeros(a.shape[0]), 2, CEMConfig(), np.random.default_rng(0))


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_cem_select_returns_bounded_actions_whose_score_is_the_network_logit(arch):
    qnet = build_qnet(arch, 32, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    states = rng.random((3, 2), dtype=np.float32)
    result = cem_select(qnet, images, states, CEMConfig(), np.random.default_rng(2))
    assert result.actions.shape == (3, ACTION_DIM) and result.scores.shape == (3,)
    assert SPEC.contains(result.actions)
    with torch.no_grad():
        logits = qnet(torch.from_numpy(images), torch.from_numpy(states), torch.from_numpy(result.actions))
    np.testing.assert_allclose(result.scores, logits.numpy(), rtol=1e-4, atol=1e-5)
    again = cem_select(qnet, images, states, CEMConfig(), np.random.default_rng(2))
    np.testing.assert_array_equal(result.actions, again.actions)
