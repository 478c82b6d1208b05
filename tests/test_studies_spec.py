"""Study files: the shipped ones load; the search space flattens and conditions work; bad input exits 2
with a message naming the file, the field, the value and why, before any trial starts."""

from pathlib import Path

import optuna
import pytest

from studies.space import suggest
from studies.spec import load_study_file
from tests.study_helpers import pipeline_study
from workbench import cli

STUDIES = Path(__file__).resolve().parent.parent / "studies"


@pytest.mark.parametrize("name", ["quick", "cem", "randomization", "tune"])
def test_shipped_study_files_load(name):
    spec = load_study_file(STUDIES / f"{name}.toml")
    assert spec.name == name and spec.params
    assert spec.storage_url == f"sqlite:///runs/{name}/study.db"


def test_quick_is_single_objective_with_a_pruner_and_visual_only():
    spec = load_study_file(STUDIES / "quick.toml")
    assert len(spec.metrics) == 1 and spec.file.pruner.name != "none" and spec.visual_only()


def test_tune_scores_success_on_the_tune_split_and_runs_the_default_values_first():
    from randomizers import get_path, load_profile

    spec = load_study_file(STUDIES / "tune.toml")
    assert spec.metrics == ["success"] and "opc_auc" in spec.file.study.record and spec.visual_only()
    assert spec.base.eval.split == "tune" and spec.base.eval.episodes == 50  # the tune split's first 50 seeds
    assert spec.base.run == "runs/main" and set(spec.base.train) <= {"finetune_steps", "checkpoint_every", "log_every"}
    default = load_profile("default")
    (first,) = spec.enqueued()
    assert set(first) == {p.path for p in spec.params}
    for path, value in first.items():  # the default profile's own values, each inside its searched range
        assert value == get_path(default, path.removeprefix("randomizers.")), path


def test_randomization_and_cem_are_multi_objective_with_early_stopping():
    randomization = load_study_file(STUDIES / "randomization.toml")
    assert randomization.metrics == ["success", "kid"] and randomization.directions == ["maximize", "minimize"]
    assert not randomization.visual_only()  # it tunes physical ranges too
    cem = load_study_file(STUDIES / "cem.toml")
    assert cem.metrics == ["success", "latency_ms"] and cem.file.early_stop.rule == "dominated"
    assert {p.path for p in cem.params} == {"cem.iterations", "cem.samples", "cem.elites", "cem.initial_std"}


def test_dotted_paths_flatten_and_conditions_follow_their_parameter():
    spec = load_study_file(STUDIES / "quick.toml")
    paths = [p.path for p in spec.params]
    assert "randomizers.lighting.intensity.high" in paths
    assert paths.index("randomizers.image.enabled") < paths.index("randomizers.image.noise.std.high")
    on = suggest(optuna.trial.FixedTrial({"randomizers.lighting.intensity.high": 2.0,
                                          "randomizers.camera.fovy_offset_deg.high": 4.0,
                                          "randomizers.image.enabled": True,
                                          "randomizers.image.noise.std.high": 0.1}), spec.params)
    assert on["randomizers.image.noise.std.high"] == 0.1
    off = suggest(optuna.trial.FixedTrial({"randomizers.lighting.intensity.high": 2.0,
                                           "randomizers.camera.fovy_offset_deg.high": 4.0,
                                           "randomizers.image.enabled": False}), spec.params)
    assert "randomizers.image.noise.std.high" not in off


def test_quoted_dotted_keys_and_int_ranges(tmp_path):
    path = pipeline_study(tmp_path / "s.toml", name="s", directory=tmp_path / "s", trials=1,
                          pruner='name = "none"', extra='"train.qtopt.batch_size" = { low = 4, high = 16, step = 4 }')
    spec = load_study_file(path)
    batch = next(p for p in spec.params if p.path == "train.qtopt.batch_size")
    assert batch.kind == "int" and (batch.low, batch.high, batch.step) == (4, 16, 4)
    intensity = next(p for p in spec.params if p.path == "randomizers.lighting.intensity.high")
    assert intensity.kind == "float" and intensity.log


BAD = [
    # (what to change in the valid file, words the message must hold)
    (("randomizers.lighting.intensity.high", "randomizers.lighting.intensty.high"),
     ["search.randomizers.lighting.intensty.high", "unknown path", "'intensty'", "intensity"]),
    (("{ low = 1.0, high = 3.0, log = true }", "{ low = 3.0, high = 0.5 }"),
     ["search.randomizers.lighting.intensity.high", "low (3.0) is greater than high (0.5)"]),
    (('name = "random"', 'name = "bayes"'), ["sampler.name = 'bayes'", "unknown sampler", "tpe"]),
    (('metric = "opc_auc"', 'metric = "sucess"'), ["objectives[0].metric = 'sucess'", "unknown metric"]),
    (('metric = "opc_auc"', 'metric = "opc_auc"\ndirection = "minimize"'),
     ["objectives[0].direction = 'minimize'", "better when higher"]),
    (("{ low = 1.0, high = 3.0, log = true }", "{ low = 0.5, high = 3.0 }"),
     ["search.randomizers.lighting.intensity.high = 0.5 gives an invalid config", "greater than high"]),
    (("offline_steps = 4", "offline_step = 4"), ["base.train.offline_step", "unknown key"]),
    (("[sampler]", '[sampler]\noptions = { n_startup = 3 }'), ["sampler.options.n_startup", "unknown option"]),
]


@pytest.mark.parametrize("change, words", BAD, ids=[w[0].split()[0] for _, w in BAD])
def test_bad_study_file_exits_2_before_any_trial(tmp_path, capsys, change, words):
    directory = tmp_path / "study"
    path = pipeline_study(tmp_path / "bad.toml", name="bad", directory=directory, trials=1, pruner='name = "none"')
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    assert cli.main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error
    for word in words:
        assert word in error, error
    assert not directory.exists()  # nothing created: no storage, no trial


def test_conditions_must_name_a_searched_parameter(tmp_path, capsys):
    path = pipeline_study(tmp_path / "s.toml", name="s", directory=tmp_path / "s", trials=1, pruner='name = "none"',
                          extra='randomizers.image.noise.p = { low = 0.0, high = 1.0, when = { "randomizers.image.blur.p" = 0.5 } }')
    assert cli.main(["study", "run", str(path)]) == 2
    assert "'randomizers.image.blur.p' is not a searched parameter" in capsys.readouterr().err


def test_pruners_need_a_single_objective(tmp_path, capsys):
    path = pipeline_study(tmp_path / "s.toml", name="s", directory=tmp_path / "s", trials=1, pruner='name = "median"',
                          extra="")
    path.write_text(path.read_text().replace('metric = "opc_auc"', 'metric = "opc_auc"\n\n[[objectives]]\nmetric = "kid"'))
    assert cli.main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert "pruner.name = 'median'" in error and "single-objective" in error and "early_stop" in error


@pytest.mark.parametrize("url, words", [
    ("postgresql://study@127.0.0.1:1/studies", ["cannot open postgresql://study@127.0.0.1:1/studies"]),
    ("sqlite:///{tmp}/a-file/study.db", ["cannot open sqlite:///", "a-file"]),
    ("mongodb://localhost/x", ["cannot open mongodb://localhost/x"]),
])
def test_unreachable_storage_exits_2_before_any_trial(tmp_path, capsys, url, words):
    (tmp_path / "a-file").write_text("not a directory")
    url = url.format(tmp=tmp_path)
    directory = tmp_path / "study"
    path = pipeline_study(tmp_path / "s.toml", name="s", directory=directory, trials=1, pruner='name = "none"')
    assert cli.main(["study", "run", str(path), "--storage", url]) == 2
    error = capsys.readouterr().err
    assert "study.storage" in error
    for word in words:
        assert word in error, error
    assert not (directory / "trials").exists()


def test_rerendering_is_refused_when_the_physics_is_searched(tmp_path, capsys):
    path = pipeline_study(tmp_path / "s.toml", name="s", directory=tmp_path / "s", trials=1, pruner='name = "none"',
                          extra="randomizers.dynamics.damping_scale.high = { low = 1.1, high = 2.0 }")
    path.write_text(path.read_text().replace("[base.collect]\nepisodes = 3", '[base.collect]\nepisodes = 3\nreuse = "rerender"'))
    assert cli.main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert "base.collect.reuse = 'rerender'" in error and "randomizers.dynamics.damping_scale.high" in error
    spec_path = pipeline_study(tmp_path / "t.toml", name="t", directory=tmp_path / "t", trials=1,
                               pruner='name = "none"', extra="randomizers.dynamics.damping_scale.high = "
                                                             "{ low = 1.1, high = 2.0 }")
    assert not load_study_file(spec_path).visual_only()  # "auto" collects instead
