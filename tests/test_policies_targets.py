"""Target networks and Bellman targets: hand-computed values, Polyak and lagged updates."""

import numpy as np
import pytest
import torch
from torch import nn

from policies.qtopt.batches import LabelledBatch, Transitions
from policies.qtopt.bellman import BellmanUpdater
from policies.qtopt.learner import Learner
from policies.qtopt.qnet import QNetwork, build_qnet
from policies.qtopt.targets import TargetNetworks, clipped_bellman_targets
from policies.runtime.cem import CEMConfig

pytestmark = pytest.mark.usefixtures("single_torch_thread")


class LinearQ(QNetwork):
    """logit = bias + weight . action: Q values known in closed form."""

    arch = "linear"
    image_size = 16

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8))
        self.bias = nn.Parameter(torch.zeros(()))

    def encode(self, image, state):
        return state.float()

    def score(self, features, actions):
        return self.bias + actions.float() @ self.weight


def set_linear(net: LinearQ, bias: float, terminate_weight: float) -> None:
    with torch.no_grad():
        net.weight.zero_()
        net.weight[7] = terminate_weight
        net.bias.fill_(bias)


def transitions(rewards, dones, size: int = 16, seed: int = 0) -> Transitions:
    n = len(rewards)
    rng = np.random.default_rng(seed)
    return Transitions(
        images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        states=rng.random((n, 2), dtype=np.float32),
        actions=rng.uniform(-0.05, 0.05, (n, 8)).astype(np.float32),
        rewards=np.asarray(rewards, dtype=np.float32),
        next_images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        next_states=rng.random((n, 2), dtype=np.float32),
        dones=np.asarray(dones, dtype=np.uint8),
    )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def test_clipped_bellman_targets_by_hand():
    rewards = np.array([-0.05, 1.0, -0.05, 1.0, -0.5], dtype=np.float32)
    dones = np.array([0, 1, 1, 0, 0], dtype=np.uint8)
    next_values = np.array([0.5, 0.9, 0.9, 0.9, 0.1], dtype=np.float32)
    expected = [-0.05 + 0.9 * 0.5, 1.0, 0.0, 1.0, 0.0]  # last three: done, clip above, clip below
    np.testing.assert_allclose(clipped_bellman_targets(rewards, dones, next_values, 0.9), expected, atol=1e-7)


def test_bellman_target_uses_the_min_of_both_targets_at_the_polyak_cem_action():
    targets = TargetNetworks(LinearQ())
    # Polyak net prefers terminate=1 (logit 2 there); the lagged net, asked about that same
    # action, says logit 1 - 3 = -2. Had it been asked about terminate=0 it would say 1.
    set_linear(targets.polyak, bias=0.0, terminate_weight=2.0)
    set_linear(targets.lagged, bias=1.0, terminate_weight=-3.0)
    updater = BellmanUpdater(targets, gamma=0.9, cem=CEMConfig())
    batch = transitions(rewards=[-0.05, 1.0, -0.05, 1.0, 0.2, -0.5], dones=[0, 1, 1, 0, 0, 0])
    labelled = updater.label(batch, np.random.default_rng(0))

    v = min(sigmoid(2.0), sigmoid(-2.0))
    expected = [-0.05 + 0.9 * v, 1.0, 0.0, 1.0, 0.2 + 0.9 * v, 0.0]
    np.testing.assert_allclose(labelled.targets, expected, atol=1e-6)
    assert labelled.targets.dtype == np.float32
    np.testing.assert_array_equal(labelled.actions, batch.actions)


def test_bellman_target_takes_the_polyak_value_when_it_is_the_lower_one():
    targets = TargetNetworks(LinearQ())
    set_linear(targets.polyak, bias=-1.0, terminate_weight=0.0)
    set_linear(targets.lagged, bias=2.0, terminate_weight=0.0)
    updater = BellmanUpdater(targets, gamma=0.9)
    labelled = updater.label(transitions(rewards=[-0.05], dones=[0]), np.random.default_rng(0))
    np.testing.assert_allclose(labelled.targets, [-0.05 + 0.9 * sigmoid(-1.0)], atol=1e-6)


def test_terminal_transitions_need_no_next_state_value(monkeypatch):
    targets = TargetNetworks(LinearQ())
    monkeypatch.setattr(targets, "next_state_values", lambda *a, **k: pytest.fail("CEM ran on a terminal state"))
    labelled = BellmanUpdater(targets).label(transitions([1.0, -0.05], [1, 1]), np.random.default_rng(0))
    np.testing.assert_allclose(labelled.targets, [1.0, 0.0])


def small_learner(tau: float = 0.1, lagged_period: int = 3) -> Learner:
    return Learner(build_qnet("fast", 16, np.random.default_rng(0)), 1e-2, polyak_tau=tau, lagged_period=lagged_period)


def labelled_batch(seed: int = 0) -> LabelledBatch:
    t = transitions(rewards=np.zeros(8), dones=np.zeros(8), seed=seed)
    targets = np.random.default_rng(seed).random(8, dtype=np.float32)
    return LabelledBatch(t.images, t.states, t.actions, targets)


def clone_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_polyak_target_moves_by_tau_toward_the_online_weights():
    learner = small_learner(tau=0.1)
    for step in range(3):
        before = clone_state(learner.targets.polyak)
        learner.train_step(labelled_batch(step))
        online = learner.qnet.state_dict()
        for name, target in learner.targets.polyak.state_dict().items():
            expected = before[name] + 0.1 * (online[name] - before[name])
            # float32 rounding: one unit in the last place of weights near 1 (LayerNorm) is 1.2e-7.
            torch.testing.assert_close(target, expected, rtol=2.5e-7, atol=1e-7)


def test_lagged_target_equals_online_exactly_after_n_steps_and_not_before():
    learner = small_learner(lagged_period=3)
    initial = clone_state(learner.qnet)
    for step in (1, 2):
        learner.train_step(labelled_batch(step))
        lagged = learner.targets.lagged.state_dict()
        assert all(torch.equal(lagged[k], initial[k]) for k in initial), f"lagged changed at step {step}"
        assert not all(torch.equal(lagged[k], v) for k, v in learner.qnet.state_dict().items())
    learner.train_step(labelled_batch(3))
    lagged = learner.targets.lagged.state_dict()
    assert all(torch.equal(lagged[k], v) for k, v in learner.qnet.state_dict().items())
    learner.train_step(labelled_batch(4))
    assert not all(torch.equal(lagged[k], v) for k, v in learner.qnet.state_dict().items())


def test_target_networks_reject_bad_settings():
    with pytest.raises(ValueError, match="polyak_tau"):
        TargetNetworks(LinearQ(), polyak_tau=0.0)
    with pytest.raises(ValueError, match="lagged_period"):
        TargetNetworks(LinearQ(), lagged_period=0)


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_an_updater_elsewhere_given_the_target_arrays_labels_identically(arch):
    learner = Learner(build_qnet(arch, 16, np.random.default_rng(0)), 1e-2, lagged_period=1)
    learner.train_step(labelled_batch(0))
    local = BellmanUpdater(learner.targets)
    remote = BellmanUpdater(TargetNetworks(build_qnet(arch, 16, np.random.default_rng(99))))
    remote.load_target_arrays(learner.targets.state_arrays())
    batch = transitions(rewards=[-0.05] * 4, dones=[0, 0, 1, 0])
    first = local.label(batch, np.random.default_rng(5)).targets
    np.testing.assert_array_equal(first, remote.label(batch, np.random.default_rng(5)).targets)
    assert np.all((first >= 0) & (first <= 1))


def test_n_step_targets_discount_the_bootstrap_by_gamma_to_the_horizon():
    rewards = np.array([0.0, 0.2, 0.0], dtype=np.float32)
    dones = np.array([0, 0, 1], dtype=np.uint8)
    next_values = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    horizons = np.array([1, 3, 2], dtype=np.uint8)
    expected = [0.9 * 0.5, 0.2 + 0.9**3 * 0.5, 0.0]
    np.testing.assert_allclose(clipped_bellman_targets(rewards, dones, next_values, 0.9, horizons), expected,
                               atol=1e-6)
