"""`workbench train` and `workbench eval --policy RUN`: a tiny run end to end, and bad input."""

import json
import shutil

import numpy as np
import pytest

from policies.qtopt.checkpoint import learner_from_checkpoint
from policies.qtopt.replay import OfflineStore, read_episode
from policies.runtime.cem import CEMConfig
from workbench import cli
from workbench.rollout.collect import collect
from workbench.rollout.qtopt_policy import make_policy
from workbench.training.config import PipelineConfig

TINY = """
offline_steps = 4
finetune_steps = 4
steps_per_episode = 2
checkpoint_every = 4
log_every = 2
eval_every = 8
eval_episodes = 1
[qtopt]
batch_size = 8
[qtopt.cem]
iterations = 1
samples = 16
elites = 2
[qtopt.act_cem]
iterations = 1
samples = 24
elites = 3
"""


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """A collected offline/ directory of 4 explorer episodes (copied into each run)."""
    out = tmp_path_factory.mktemp("collected") / "offline"
    collect(out, episodes=4, seed=3, progress=False)
    return out


def new_run(tmp_path, offline, name="run"):
    run = tmp_path / name
    shutil.copytree(offline, run / "offline")
    return run


def write_config(tmp_path, text=TINY, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, offline):
    tmp = tmp_path_factory.mktemp("trained")
    run = new_run(tmp, offline)
    assert cli.main(["train", "--run", str(run), "--config", str(write_config(tmp))]) == 0
    return run


def test_tiny_run_writes_checkpoint_config_logs_and_curve(trained):
    _, info = learner_from_checkpoint(trained / "checkpoint.safetensors")
    assert info.learner_step == 8 and info.config.batch_size == 8
    config = PipelineConfig.model_validate(json.loads((trained / "config.json").read_text()))
    assert config.seed == 0 and config.profile == "default" and config.qtopt.image_size == 64
    assert list((trained / "tensorboard").glob("events.out.tfevents.*"))
    assert (trained / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((trained / "history.json").read_text())
    assert [p["step"] for p in history if "loss" in p] == [2, 4, 6, 8]
    assert any("eval_success" in p for p in history)


def test_finetuning_wrote_on_policy_episodes(trained):
    paths = OfflineStore(trained / "online").paths()
    assert [p.name for p in paths] == ["train-000000.safetensors", "train-000001.safetensors"]
    episode = read_episode(paths[0])
    assert episode.policy == "qtopt" and episode.info["learner_step"] == 4


def test_eval_runs_the_trained_policy(trained, capsys):
    assert cli.main(["eval", "--policy", str(trained), "--episodes", "2", "--profile", "default", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["episodes"] == 2 and 0 <= record["rate"] <= 1


def test_run_policy_acts_within_bounds(trained):
    from workbench.rollout.collect import make_env

    env = make_env("bin_grasp", split="test")
    policy = make_policy(str(trained), env)
    assert policy.cem == CEMConfig(iterations=1, samples=24, elites=3)  # the run's acting CEM, not its Bellman one
    observation, _ = env.reset(seed=0)
    policy.reset(np.random.default_rng(0))
    action = policy.act(observation)
    env.close()
    assert action.shape == (8,) and env.action_space.contains(action)


@pytest.mark.parametrize("close, moves", [(1.0, False), (0.0, True)])
def test_exploration_noise_does_not_move_a_closing_hand(monkeypatch, close, moves):
    """On-policy data keeps CEM's grasp where it chose it: noise moves only actions that do not close."""
    from policies.qtopt.qnet import build_qnet
    from policies.runtime.cem import CEMResult
    from policies.runtime.spec import ActionSpec
    from workbench.rollout import qtopt_policy

    chosen = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, close, 0.0, 1.0]], np.float32)  # as CEM returns it
    monkeypatch.setattr(qtopt_policy, "cem_select", lambda *args: CEMResult(chosen.copy(), np.zeros(1, np.float32)))
    policy = qtopt_policy.QTOptPolicy(build_qnet("fast", 16, np.random.default_rng(0)), CEMConfig(), ActionSpec(),
                                      epsilon=0.5, noise=1.0)
    policy.reset(np.random.default_rng(0))
    observation = {"image": np.zeros((16, 16, 3), np.uint8), "gripper_closed": np.zeros(1, np.float32),
                   "height": np.full(1, 0.1, np.float32)}
    actions = np.array([policy.act(observation) for _ in range(20)])
    np.testing.assert_array_equal(actions[:, 5:], np.repeat(chosen[:, 5:], 20, axis=0))
    assert (np.abs(actions[:, :3]).max() > 0) == moves


@pytest.mark.parametrize("closure, ends", [(0.0, False), (0.98, True)])
def test_a_greedy_policy_sees_what_it_holds_before_it_ends(monkeypatch, closure, ends):
    """Evaluation and deployment act greedily: closing an open hand never ends the episode on the same step."""
    from policies.qtopt.qnet import build_qnet
    from policies.runtime.cem import CEMResult
    from policies.runtime.spec import ActionSpec
    from workbench.rollout import qtopt_policy

    chosen = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0]], np.float32)  # close and terminate
    monkeypatch.setattr(qtopt_policy, "cem_select", lambda *args: CEMResult(chosen.copy(), np.zeros(1, np.float32)))
    policy = qtopt_policy.QTOptPolicy(build_qnet("fast", 16, np.random.default_rng(0)), CEMConfig(), ActionSpec())
    policy.reset(np.random.default_rng(0))
    observation = {"image": np.zeros((16, 16, 3), np.uint8), "gripper_closed": np.full(1, closure, np.float32),
                   "height": np.full(1, 0.01, np.float32)}
    action = policy.act(observation)
    assert action[5] == 1.0 and (action[7] > 0.5) == ends


# -- bad input: exit status 2, a message naming the problem, nothing overwritten ---------

def test_corrupt_checkpoint_fails_cleanly_and_is_left_alone(trained, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    checkpoint = run / "checkpoint.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])  # truncated
    damaged = checkpoint.read_bytes()
    assert cli.main(["train", "--run", str(run), "--resume"]) == 2
    assert "checkpoint.safetensors" in capsys.readouterr().err
    assert cli.main(["eval", "--policy", str(run), "--episodes", "1"]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    assert checkpoint.read_bytes() == damaged
    assert not list(run.glob(".*.tmp"))


def test_truncated_episode_fails_cleanly(tmp_path, offline, capsys):
    run = new_run(tmp_path, offline)
    episode = run / "offline" / "episode-000001.safetensors"
    episode.write_bytes(episode.read_bytes()[:3000])
    assert cli.main(["train", "--run", str(run), "--config", str(write_config(tmp_path))]) == 2
    assert "episode-000001.safetensors" in capsys.readouterr().err
    assert not (run / "config.json").exists() and not (run / "checkpoint.safetensors").exists()


@pytest.mark.parametrize("bad, where", [
    ("[qtopt]\nbatch_size = 0\n", "qtopt.batch_size"),
    ("[qtopt.cem]\nsamples = 4\nelites = 6\n", "qtopt.cem"),
    ("checkpoint_every = -1\n", "checkpoint_every"),
    ("learning_rate = 0.1\n", "learning_rate"),  # misplaced: extra keys are refused
    ("offline_steps = [\n", "invalid TOML"),
])
def test_bad_config_fails_cleanly(tmp_path, offline, capsys, bad, where):
    run = new_run(tmp_path, offline)
    assert cli.main(["train", "--run", str(run), "--config", str(write_config(tmp_path, bad))]) == 2
    error = capsys.readouterr().err
    assert where in error and "tiny.toml" in error
    assert sorted(p.name for p in run.iterdir()) == ["offline"]


def test_existing_run_needs_resume_and_resume_needs_a_run(trained, tmp_path, offline, capsys):
    before = (trained / "checkpoint.safetensors").read_bytes()
    assert cli.main(["train", "--run", str(trained)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (trained / "checkpoint.safetensors").read_bytes() == before
    assert cli.main(["train", "--run", str(new_run(tmp_path, offline)), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
