"""Q-networks: one interface for both architectures, sizes, seeding, and they can learn."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from policies.qtopt.qnet import ARCHITECTURES, build_qnet, count_parameters

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def random_inputs(batch: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8))
    states = torch.from_numpy(rng.random((batch, 2), dtype=np.float32))
    actions = torch.from_numpy(rng.uniform(-1, 1, (batch, 8)).astype(np.float32))
    return images, states, actions


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("size", [32, 64, 96])
def test_both_architectures_share_the_interface(arch, size):
    qnet = build_qnet(arch, size)
    images, states, actions = random_inputs(5, size)
    with torch.no_grad():
        features = qnet.encode(images, states)
        assert features.ndim == 2 and features.shape[0] == 5
        many = torch.rand(5, 7, 8)
        assert qnet.score(features, many).shape == (5, 7)
        logits = qnet(images, states, actions)
        assert logits.shape == (5,)
        np.testing.assert_allclose(qnet.score(features, actions[:, None])[:, 0], logits, rtol=1e-5, atol=1e-6)
        # Scoring K actions at once equals scoring each on its own.
        for k in range(7):
            single = qnet(images, states, many[:, k])
            np.testing.assert_allclose(qnet.score(features, many)[:, k], single, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_uint8_images_are_scaled_to_unit_range_inside(arch):
    qnet = build_qnet(arch, 32)
    images, states, actions = random_inputs(2, 32)
    with torch.no_grad():
        np.testing.assert_allclose(
            qnet(images, states, actions), qnet(images.float() / 255.0, states, actions), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_parameter_count_at_64_is_in_the_planned_range(arch):
    assert 100_000 <= count_parameters(build_qnet(arch, 64)) <= 300_000


def test_initialisation_follows_the_callers_generator():
    a = build_qnet("fast", 32, np.random.default_rng(7))
    b = build_qnet("fast", 32, np.random.default_rng(7))
    c = build_qnet("fast", 32, np.random.default_rng(8))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_unknown_arch_and_bad_inputs_are_reported_clearly():
    with pytest.raises(ValueError, match="unknown Q-network architecture 'resnet'.*paper, fast"):
        build_qnet("resnet", 64)
    with pytest.raises(ValueError, match="image_size"):
        build_qnet("fast", 8)
    qnet = build_qnet("paper", 32)
    images, states, actions = random_inputs(2, 64)
    with pytest.raises(ValueError, match="built for 32x32"):
        qnet(images, states, actions)
    with pytest.raises(ValueError, match="channel-last"):
        qnet(images.permute(0, 3, 1, 2), states, actions)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_both_architectures_overfit_a_tiny_labelled_set(arch):
    qnet = build_qnet(arch, 32, np.random.default_rng(0))
    images, states, actions = random_inputs(32, 32, seed=1)
    labels = torch.from_numpy(np.random.default_rng(2).integers(0, 2, 32).astype(np.float32))
    optimizer = torch.optim.Adam(qnet.parameters(), lr=1e-3)
    for _ in range(300):
        loss = F.binary_cross_entropy_with_logits(qnet(images, states, actions), labels)
        if loss.item() < 0.05:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


def _fit_steps(qnet, images, states, actions, labels, max_steps=400, target_loss=0.1):
    """Adam steps until the log loss on a fixed batch falls below ``target_loss`` (max_steps if never)."""
    optimizer = torch.optim.Adam(qnet.parameters(), lr=1e-3)
    for step in range(max_steps):
        loss = F.binary_cross_entropy_with_logits(qnet(images, states, actions), labels)
        if loss.item() < target_loss:
            return step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return max_steps


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_where_the_hand_moves_is_learnt_as_fast_as_whether_it_closes(arch):
    """Translations are metres (+-0.05) beside 0/1 gripper flags. A label that depends only on
    the sign of dx must be learnt about as fast as one that depends only on the close flag;
    unscaled, the policy this network drives ignored where it moved. One image and state for
    every sample: the action is all the network can tell them apart by."""
    images, states, _ = random_inputs(1, 32, seed=3)
    images, states = images.expand(64, -1, -1, -1).contiguous(), states.expand(64, -1).contiguous()
    rng = np.random.default_rng(4)
    translation = 0.05
    actions = np.zeros((64, 8), np.float32)
    actions[:, :3] = rng.uniform(-translation, translation, (64, 3))
    actions[:, 3], actions[:, 4] = 0.0, 1.0
    actions[:, 5] = rng.integers(0, 2, 64)
    actions = torch.from_numpy(actions)
    by_direction = (actions[:, 0] > 0).float()
    by_close = actions[:, 5].clone()
    steps_direction = _fit_steps(build_qnet(arch, 32, np.random.default_rng(0), translation),
                                 images, states, actions, by_direction)
    steps_close = _fit_steps(build_qnet(arch, 32, np.random.default_rng(0), translation),
                             images, states, actions, by_close)
    assert steps_direction < 400, "never learnt which way the hand moved"
    assert steps_direction <= 3 * max(steps_close, 10), (steps_direction, steps_close)


def test_input_units_follow_max_translation():
    # A config with smaller moves gets a larger scale: the same fraction of the maximum move
    # reaches the network as the same input.
    images, states, actions = random_inputs(4, 32, seed=5)
    small = build_qnet("fast", 32, np.random.default_rng(0), max_translation=0.02)
    large = build_qnet("fast", 32, np.random.default_rng(0), max_translation=0.05)
    moves = actions.clone()
    moves[:, :3] *= 0.02
    scaled_moves = actions.clone()
    scaled_moves[:, :3] *= 0.05
    with torch.no_grad():
        torch.testing.assert_close(small(images, states, moves), large(images, states, scaled_moves))
    assert "action_scale" not in small.state_dict()  # checkpoints hold weights only
    with pytest.raises(ValueError, match="max_translation"):
        build_qnet("fast", 32, max_translation=0.0)
