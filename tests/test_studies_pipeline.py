"""Pipeline studies end to end with tiny numbers: re-rendered episodes, the trainer process, intermediate
values and pruning, the best profile and training config; the trainer's failures become reasons."""

import json
import tomllib

import optuna
import pytest
from optuna.trial import TrialState

from studies.training import Trainer, TrialFailure, diverged
from tests.study_helpers import pipeline_study
from workbench import cli


@pytest.fixture(scope="module")
def completed(tmp_path_factory):
    """Two complete trials of a pipeline study (no pruner)."""
    tmp = tmp_path_factory.mktemp("pipeline")
    directory = tmp / "study"
    path = pipeline_study(tmp / "p.toml", name="p", directory=directory, trials=2, pruner='name = "none"')
    assert cli.main(["study", "run", str(path)]) == 0
    return directory, optuna.load_study(study_name="p", storage=f"sqlite:///{directory}/study.db")


def test_trials_rerender_shared_trajectories_train_and_measure(completed):
    directory, study = completed
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    shared = list((directory / "shared").glob("trajectories-*"))
    assert len(shared) == 1 and len(list(shared[0].glob("episode-*.safetensors"))) == 3  # recorded once
    for trial in study.trials:
        folder = directory / "trials" / f"{trial.number:05d}"
        data = json.loads((folder / "data.json").read_text())
        assert data["offline"] == "rerendered"
        assert len(list((folder / "run" / "offline").glob("episode-*.safetensors"))) == 3
        manifest = json.loads((folder / "run" / "offline" / "collect.json").read_text())
        assert manifest["profile"] == str(folder / "profile.toml")
        result = json.loads((folder / "result.json").read_text())
        assert result["details"]["learner_step"] == 4 and 0.0 <= result["metrics"]["opc_auc"] <= 1.0
        assert trial.user_attrs["metrics"]["opc_auc"] == trial.value
        # Measured on the target's tune split only; the records say so.
        assert result["split"] == "tune" and json.loads((folder / "trial.json").read_text())["split"] == "tune"
    labelled = list((directory / "shared").glob("target-proxy-real-16px-tune900000-n20/episode-*.safetensors"))
    assert len(labelled) == 20  # made before the first trial (the check that they can rank), at the tune seeds


def test_best_writes_a_profile_and_a_train_config_that_load(completed, tmp_path):
    from randomizers import load_profile
    from workbench.training.config import read_toml, validate_config

    directory, study = completed
    out = tmp_path / "chosen" / "profile.toml"
    assert cli.main(["study", "best", str(directory), "--out", str(out)]) == 0
    best = max(study.trials, key=lambda t: t.value)
    profile = load_profile(out)
    assert profile.lighting.intensity.high == pytest.approx(best.params["randomizers.lighting.intensity.high"])
    assert profile.image.enabled == best.params["randomizers.image.enabled"]
    config_path = out.with_name("profile.train.toml")
    data = tomllib.loads(config_path.read_text())
    assert data["profile"] == str(out) and data["qtopt"]["act_cem"]["samples"] == 8
    assert validate_config(read_toml(config_path), str(config_path)).profile == str(out)

    assert cli.main(["study", "report", str(directory), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "optimization_history.png").stat().st_size > 0
    assert (tmp_path / "report" / "report.html").stat().st_size > 0


def test_pruner_stops_the_trainer_and_records_why(tmp_path):
    directory = tmp_path / "study"
    path = pipeline_study(tmp_path / "pp.toml", name="pp", directory=directory, trials=1,
                          pruner='name = "threshold"\noptions = { lower = 1.01 }')  # AUC is at most 1: always
    assert cli.main(["study", "run", str(path)]) == 0
    (trial,) = optuna.load_study(study_name="pp", storage=f"sqlite:///{directory}/study.db").trials
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values and min(trial.intermediate_values) == 2  # the first checkpoint
    assert trial.user_attrs["prune_reason"].startswith("pruned by the threshold pruner at step 2: opc_auc")
    assert not (directory / "trials" / "00000" / "result.json").exists()


def test_divergence_and_trainer_errors_become_reasons(tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"step": 2, "loss": 0.6}, {"step": 4, "loss": float("nan")}]))
    assert diverged(history) == "diverged: loss is nan at learner step 4"
    history.write_text(json.dumps([{"step": 2, "loss": 0.6, "mean_q": 0.4}]))
    assert diverged(history) is None

    config = tmp_path / "train.toml"
    config.write_text("offline_steps = 2\n")
    import time

    trainer = Trainer(tmp_path / "run", config, tmp_path / "train.log", time.monotonic() + 120)
    trainer.start()
    with pytest.raises(TrialFailure, match=r"training exited with status 2: .*no episodes"):
        list(trainer.checkpoints())
