"""``PipelineConfig.init_checkpoint``: a new run starts from another run's networks (a warm start)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from policies.qtopt.checkpoint import learner_from_checkpoint, save_checkpoint
from policies.qtopt.config import QTOptConfig
from policies.qtopt.learner import Learner
from policies.runtime.cem import CEMConfig
from workbench.errors import UserError
from workbench.rollout.collect import collect
from workbench.training.train import train

SMALL = {"qtopt": {"batch_size": 8, "cem": {"iterations": 1, "samples": 16, "elites": 2},
                   "act_cem": {"iterations": 1, "samples": 16, "elites": 2}},
         "checkpoint_every": 100, "log_every": 1, "steps_per_episode": 0}


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    out = tmp_path_factory.mktemp("collected") / "offline"
    collect(out, episodes=2, seed=3, image_size=32, progress=False)
    return out


def source_checkpoint(path, image_size=32, seed=7):
    """A checkpoint at learner step 500 whose target networks differ from its online network."""
    qtopt = QTOptConfig(image_size=image_size, cem=CEMConfig(iterations=1, samples=16, elites=2))
    learner = Learner.from_config(qtopt, np.random.default_rng(seed))
    with torch.no_grad():
        for parameter in learner.targets.polyak.parameters():
            parameter.add_(1.0)
        for parameter in learner.targets.lagged.parameters():
            parameter.sub_(1.0)
    learner.step_count = 500
    save_checkpoint(path, learner, qtopt)
    return learner


def new_run(tmp_path, offline, name="run"):
    run = tmp_path / name
    shutil.copytree(offline, run / "offline")
    return run


def states(learner):
    return {"online": learner.qnet.state_dict(), "polyak": learner.targets.polyak.state_dict(),
            "lagged": learner.targets.lagged.state_dict()}


def test_a_warm_started_run_takes_all_three_networks_at_step_zero_with_a_fresh_optimizer(tmp_path, offline):
    source = source_checkpoint(tmp_path / "warm.safetensors")
    run = new_run(tmp_path, offline)
    summary = train(run, progress=False, overrides={**SMALL, "offline_steps": 0, "finetune_steps": 0,
                                                    "init_checkpoint": str(tmp_path / "warm.safetensors")})
    assert summary["learner_step"] == 0
    started, info = learner_from_checkpoint(run / "checkpoint.safetensors")
    assert info.learner_step == 0 and started.optimizer.state_dict()["state"] == {}  # a fresh Adam
    for name, state in states(source).items():
        for key, value in state.items():
            assert torch.equal(states(started)[name][key], value), (name, key)

    # Training goes on from there: steps count from 0, not from the source's 500.
    again = new_run(tmp_path, offline, "steps")
    summary = train(again, progress=False, overrides={**SMALL, "offline_steps": 3, "finetune_steps": 0,
                                                      "init_checkpoint": str(tmp_path / "warm.safetensors")})
    assert summary["learner_step"] == 3


def test_without_init_checkpoint_the_run_starts_from_its_seed(tmp_path, offline):
    source = source_checkpoint(tmp_path / "warm.safetensors")
    run = new_run(tmp_path, offline)
    train(run, progress=False, overrides={**SMALL, "offline_steps": 0, "finetune_steps": 0})
    started, _ = learner_from_checkpoint(run / "checkpoint.safetensors")
    key = next(iter(source.qnet.state_dict()))
    assert not torch.equal(started.qnet.state_dict()[key], source.qnet.state_dict()[key])


@pytest.mark.parametrize("problem", ["missing", "corrupt", "image size", "arch"])
def test_a_bad_init_checkpoint_is_refused_before_anything_is_written(tmp_path, offline, problem):
    path = tmp_path / "warm.safetensors"
    overrides = {**SMALL, "offline_steps": 1, "finetune_steps": 0, "init_checkpoint": str(path)}
    if problem == "corrupt":
        path.write_bytes(b"not a checkpoint")
        expected = "not a readable safetensors file"
    elif problem == "image size":
        source_checkpoint(path, image_size=64)
        expected = "on 64x64 images, the config's qtopt is 'fast' on 32x32"
    elif problem == "arch":
        source_checkpoint(path)
        overrides["qtopt"] = {**SMALL["qtopt"], "arch": "paper"}
        expected = "a 'fast' network"
    else:
        expected = "checkpoint file not found"
    run = new_run(tmp_path, offline)
    with pytest.raises(UserError, match="init_checkpoint") as error:
        train(run, progress=False, overrides=overrides)
    assert expected in str(error.value)
    assert not (run / "config.json").exists() and not (run / "checkpoint.safetensors").exists()


def test_a_warm_started_study_names_its_missing_warm_start_before_any_trial(tmp_path):
    import tomllib

    import tomli_w

    from studies.objectives import make_objective
    from studies.spec import parse_study

    data = tomllib.loads((Path(__file__).parents[1] / "studies" / "tune.toml").read_text())
    data["base"]["run"] = str(tmp_path / "nowhere")
    spec = parse_study(tomli_w.dumps(data), "tune.toml")
    with pytest.raises(UserError, match=r"tune.toml: base.run = .*nowhere.*no run there"):
        make_objective(spec)


def test_a_warm_started_study_sets_only_the_finetuning_in_base_train():
    import tomllib

    import tomli_w

    from studies.spec import parse_study

    data = tomllib.loads((Path(__file__).parents[1] / "studies" / "tune.toml").read_text())
    data["base"]["train"]["offline_steps"] = 100
    with pytest.raises(UserError, match=r"tune.toml: .*base.train.offline_steps: a warm-started study"):
        parse_study(tomli_w.dumps(data), "tune.toml")


def test_a_warm_start_trained_without_the_collector_finetunes_in_process(tmp_path, offline):
    from workbench.training.lockstep import FAILED_NAME
    from workbench.training.warm_start import finetune_from

    warm = new_run(tmp_path, offline, "warm")  # plain `workbench train`: no lockstep collector
    train(warm, progress=False, overrides={**SMALL, "offline_steps": 2, "finetune_steps": 0, "steps_per_episode": 1})
    summary = finetune_from(warm, tmp_path / "trial", profile="wide", finetune_steps=2)
    assert summary["learner_step"] == 4
    assert not (tmp_path / "trial" / "acting" / FAILED_NAME).exists()
    collected = sorted((tmp_path / "trial" / "online").glob("*.safetensors"))
    assert len(collected) == 2  # one episode per finetune step, collected by the learner's process
