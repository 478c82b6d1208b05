"""The pieces together: episodes on disk -> mixer -> Bellman updater -> learner -> CEM."""

import numpy as np
import pytest

from policies.qtopt.action_selection import cem_select
from policies.qtopt.config import QTOptConfig
from policies.qtopt.learner import Learner
from policies.qtopt.replay import Episode, OfflineStore, OnlineBuffer, ReplayMixer
from policies.runtime.spec import ActionSpec

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def random_episode(rng: np.random.Generator, episode_id: str, size: int) -> Episode:
    steps = int(rng.integers(2, 6))
    success = bool(rng.random() < 0.5)
    rewards = np.full(steps, -0.05, dtype=np.float32)
    rewards[-1] = 1.0 if success else 0.0
    dones = np.zeros(steps, dtype=np.uint8)
    dones[-1] = 1
    spec = ActionSpec()
    return Episode(
        images=rng.integers(0, 256, (steps + 1, size, size, 3), dtype=np.uint8),
        states=rng.random((steps + 1, 2), dtype=np.float32),
        actions=rng.uniform(spec.low, spec.high, (steps, 8)).astype(np.float32),
        rewards=rewards,
        dones=dones,
        episode_id=episode_id,
        success=success,
        seed=0,
        policy="random",
    )


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_a_few_training_rounds_run_end_to_end(tmp_path, arch):
    config = QTOptConfig(arch=arch, image_size=16, batch_size=16, lagged_period=2, offline_fraction=0.5)
    rng = np.random.default_rng(0)
    store = OfflineStore(tmp_path)
    for i in range(4):
        store.add(random_episode(rng, f"ep-{i}", 16))
    online = OnlineBuffer(config.online_capacity)
    online.add_episode(random_episode(rng, "live-0", 16))

    learner = Learner.from_config(config, rng)
    updater = learner.bellman_updater(config)
    mixer = ReplayMixer(store.load_transitions(), online, config.offline_fraction)
    for _ in range(3):
        labelled = updater.label(mixer.sample(config.batch_size, rng), rng)
        assert np.all((labelled.targets >= 0) & (labelled.targets <= 1))
        metrics = learner.train_step(labelled)
        assert np.isfinite(metrics.loss) and 0 < metrics.mean_q < 1
    assert metrics.step == 3

    observation = store.load_transitions().take(np.arange(1))
    chosen = cem_select(learner.qnet, observation.images, observation.states, config.cem, rng)
    assert config.action_spec().contains(chosen.actions)
