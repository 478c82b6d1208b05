"""Target splits: tune and test are disjoint (seeds and real-data files), a study reads only tune,
and a target that cannot measure a study is refused (exit 2) before any trial."""

import json

import numpy as np
import pytest
from study_helpers import pipeline_study

from workbench.cli import main
from workbench.errors import UserError
from workbench.evaluation.realdata import LabelledEpisode, Manifest, RealDataError, load_real_data, write_real_data
from workbench.evaluation.suites import SUITES
from workbench.evaluation.target_splits import (
    CONFIRM_EPISODES,
    CONFIRM_OFFSET,
    TEST,
    TRIAL_EPISODES,
    TUNE,
    TUNE_FRAMES,
    TUNE_LABELLED,
    SplitError,
    check_outside_tune,
    split_of,
    suite_split,
)

SIZE = 16


# -- seeds ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suite", list(SUITES))
def test_tune_and_test_seed_ranges_are_disjoint_in_every_suite(suite):
    tune, test = suite_split(suite, TUNE), suite_split(suite, TEST)
    tune_seeds, test_seeds = set(tune.seeds(tune.size)), set(test.seeds(test.size))
    assert tune_seeds and test_seeds and not tune_seeds & test_seeds
    assert test.stop == tune.first_seed  # test ends where tune starts
    # What the tune split holds fits in it: labelled episodes, frames, trial and confirmation episodes.
    held = ((TUNE_LABELLED, 0), (TUNE_FRAMES, 0), (TRIAL_EPISODES, 0), (CONFIRM_EPISODES, CONFIRM_OFFSET))
    for count, offset in held:
        assert set(tune.seeds(count, offset)) <= tune_seeds
    # Trials and the confirmation of a choice never share an episode.
    assert not set(tune.seeds(TRIAL_EPISODES)) & set(tune.seeds(CONFIRM_EPISODES, CONFIRM_OFFSET))


def test_every_evaluation_seed_a_user_can_pass_is_test_or_refused():
    from workbench.cli.main_job import EVAL_SEED, Plan

    episodes = Plan().scaled(100).eval_episodes  # the most a main job evaluates (--budget 100)
    test = suite_split("proxy-real", TEST)
    for run_seed in [0, 1, 2, 17, 1000, 10**5, test.size - episodes]:
        first = EVAL_SEED + run_seed
        assert split_of(first, episodes) == TEST and test.holds(first, episodes)
        check_outside_tune(first, episodes, "--seed")  # no error
        assert set(test.seeds(episodes, offset=run_seed)) == set(range(first, first + episodes))
    for first in (test.stop - 5, test.stop, test.stop + 399):  # reaching into tune, or inside it
        with pytest.raises(UserError, match="reach into the tune split"):
            check_outside_tune(first, 10, "--seed")
        with pytest.raises(SplitError, match="reach past its end"):
            test.seeds(10, offset=first - test.first_seed)
    check_outside_tune(test.stop + 400, 10, "--seed")  # past tune again: not tune
    assert split_of(0, 10) is None and split_of(900_000, 400) == TUNE and split_of(899_999, 2) is None


def test_seeds_past_the_split_raise_a_clear_error():
    tune = suite_split("proxy-real", TUNE)
    assert tune.seeds(3, offset=50) == range(900_050, 900_053)
    with pytest.raises(SplitError, match="holds 400 seeds"):
        tune.seeds(100, offset=350)
    with pytest.raises(UserError, match="unknown split 'train'"):
        suite_split("proxy-real", "train")
    with pytest.raises(UserError, match="unknown suite"):
        suite_split("nowhere", TUNE)


@pytest.mark.parametrize("argv", [
    ["eval", "--policy", "explorer", "--seed", "899990", "--episodes", "20"],
    ["eval", "--policy", "explorer", "--suite", "proxy-real", "--seed", "900100", "--episodes", "2"],
    ["drive", "no-bundle", "--seed", "900000", "--episodes", "2"],
    ["run", "--seed", "898990"],
])
def test_evaluations_reaching_into_tune_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "reach into the tune split" in error and "--seed" in error
    assert not any(tmp_path.iterdir())  # refused before anything ran


def test_eval_report_says_which_split():
    from workbench.evaluation.reports.eval_report import eval_record
    from workbench.rollout.evaluate import wilson_interval

    suites = [SUITES["proxy-real"]]
    results = {"proxy-real": wilson_interval(1, 2)}
    assert eval_record("explorer", suites, results, 2, 1000, SIZE)["split"] == TEST
    assert eval_record("explorer", suites, results, 2, 900_000, SIZE)["split"] == TUNE


# -- real-data directories -------------------------------------------------------------------------

def _episode(rng, name, success):
    return LabelledEpisode(
        episode_id=name, success=success, images=rng.integers(0, 256, size=(2, SIZE, SIZE, 3), dtype=np.uint8),
        states=np.array([[0, 0.2], [0, 0.1]], np.float32),
        actions=np.tile(np.array([0.01, 0, -0.05, 0, 1, 0, 0, 0], np.float32), (2, 1)))


def _real_dir(path, *, episodes=8, successes=3, images=12):
    rng = np.random.default_rng(0)
    eps = [_episode(rng, f"ep-{i:02d}", i < successes) for i in range(episodes)]
    frames = rng.integers(0, 256, size=(images, SIZE, SIZE, 3), dtype=np.uint8)
    return write_real_data(path, Manifest("real", SIZE, SIZE, 0.05), frames, eps)


def test_data_split_round_trip_disjoint_and_deterministic(tmp_path, capsys):
    root = _real_dir(tmp_path / "data")
    assert main(["data", "split", str(root), "--tune-episodes", "4", "--tune-images", "5", "--seed", "3",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"]["tune"] == {"episodes": 4, "images": 5, "successful_episodes": 2}
    assert summary["splits"]["test"]["episodes"] == 4 and summary["splits"]["test"]["images"] == 7
    manifest = json.loads((root / "realdata.json").read_text())
    splits = manifest["splits"]
    assert splits["seed"] == 3 and manifest["format_version"] == 1
    tune, test = load_real_data(root, split=TUNE), load_real_data(root, split=TEST)
    everything = load_real_data(root)
    assert tune.split == TUNE and everything.split is None
    listed = {"episodes": lambda d: [e.episode_id for e in d.episodes], "images": lambda d: d.image_names}
    for kind, names in listed.items():
        assert set(names(tune)) == set(splits["tune"][kind]) and set(names(test)) == set(splits["test"][kind])
        assert not set(names(tune)) & set(names(test))  # disjoint
        assert sorted(names(tune) + names(test)) == sorted(names(everything))  # every file in one split
    # Stratified: the tune episodes hold successes and failures (3 of 8 succeeded overall).
    assert 0 < sum(e.success for e in tune.episodes) < len(tune.episodes)
    assert everything.summary()["splits"] == {"tune": {"episodes": 4, "images": 5},
                                              "test": {"episodes": 4, "images": 7}}

    # Refused without --force (exit 2, the manifest untouched); the same seed draws the same split.
    before = (root / "realdata.json").read_bytes()
    assert main(["data", "split", str(root), "--tune-episodes", "2", "--tune-images", "2"]) == 2
    assert "already assigned" in capsys.readouterr().err and (root / "realdata.json").read_bytes() == before
    assert main(["data", "split", str(root), "--tune-episodes", "4", "--tune-images", "5", "--seed", "3",
                 "--force"]) == 0
    assert json.loads((root / "realdata.json").read_text())["splits"] == splits
    assert main(["data", "split", str(root), "--tune-episodes", "4", "--tune-images", "5", "--seed", "4",
                 "--force"]) == 0
    assert json.loads((root / "realdata.json").read_text())["splits"] != splits
    capsys.readouterr()
    assert main(["data", "split", str(root), "--tune-episodes", "9", "--force"]) == 2
    assert "--tune-episodes 9" in capsys.readouterr().err
    assert main(["data", "validate", str(root)]) == 0
    assert "splits: tune 4 episodes" in capsys.readouterr().out


@pytest.mark.parametrize("change, words", [
    (lambda s: s["test"]["episodes"].append(s["tune"]["episodes"][0]),
     ["splits.test.episodes", "is also in splits.tune.episodes", "at most one split"]),
    (lambda s: s["tune"]["images"].append(s["tune"]["images"][0]), ["splits.tune.images", "appears twice"]),
    (lambda s: s["tune"]["images"].append("gone.png"), ["splits.tune.images", "'gone.png'", "not in images/"]),
    (lambda s: s.update(train={"episodes": []}), ["splits.train: unknown key"]),
    (lambda s: s["tune"].update(episodes="ep-00"), ["splits.tune.episodes: expected a list"]),
])
def test_bad_splits_name_the_manifest_and_field(tmp_path, change, words):
    root = _real_dir(tmp_path / "data")
    assert main(["data", "split", str(root), "--tune-episodes", "4", "--tune-images", "5"]) == 0
    manifest = json.loads((root / "realdata.json").read_text())
    change(manifest["splits"])
    (root / "realdata.json").write_text(json.dumps(manifest))
    with pytest.raises(RealDataError) as caught:
        load_real_data(root)
    assert caught.value.path.endswith("realdata.json")
    for word in words:
        assert word in caught.value.problem, caught.value.problem


def test_reading_a_split_the_directory_lacks_is_refused(tmp_path):
    root = _real_dir(tmp_path / "data")
    with pytest.raises(RealDataError, match="splits.tune: missing") as caught:
        load_real_data(root, split=TUNE)
    assert caught.value.path.endswith("realdata.json")


# -- studies ---------------------------------------------------------------------------------------

def _study(tmp_path, eval_lines: str, metric: str = "opc_auc", extra: str = ""):
    path = pipeline_study(tmp_path / "s.toml", name="s", directory=tmp_path / "s", trials=1, pruner='name = "none"',
                          extra=extra)
    block = 'episodes = 1\nsplit = "tune"\nlabelled_episodes = 20'
    assert block in path.read_text()
    text = path.read_text().replace(block, eval_lines, 1)
    path.write_text(text.replace('metric = "opc_auc"', f'metric = "{metric}"', 1))
    return path


@pytest.mark.parametrize("eval_lines, words", [
    ('split = "test"', ["base.eval.split = 'test'", "a study sees only the 'tune' split"]),
    ('split = "train"', ["base.eval.split = 'train'", "a study sees only the 'tune' split"]),
    ("seed = 1000", ["base.eval", "seed: removed", "the target split gives the seeds"]),
    ("labelled_episodes = 10", ["base.eval.labelled_episodes = 10", "greater than or equal to 20"]),
    ("labelled_episodes = 60", ["base.eval.labelled_episodes = 60", "the tune split holds 50 labelled episodes"]),
    ("transfer_images = 301", ["base.eval.transfer_images = 301", "holds 300"]),
    ("episodes = 51", ["base.eval.episodes = 51", "holds 50 success episodes"]),
])
def test_study_cannot_read_test_or_more_than_tune_holds(tmp_path, capsys, eval_lines, words):
    path = _study(tmp_path, eval_lines)
    assert main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error
    for word in words:
        assert word in error, error
    assert not (tmp_path / "s").exists()  # nothing created


def test_a_searched_split_is_refused_too(tmp_path, capsys):
    path = _study(tmp_path, 'episodes = 1', extra='eval.split = { choices = ["tune", "test"] }')
    assert main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert "search.eval.split = 'test' gives an invalid config" in error and "only the 'tune' split" in error


def _target_study(tmp_path, root, metric, lines=""):
    return _study(tmp_path, f'episodes = 1\ntarget_data = "{root}"\n{lines}', metric=metric)


def test_target_data_without_a_tune_split_exits_2_before_any_trial(tmp_path, capsys):
    root = _real_dir(tmp_path / "data")
    path = _target_study(tmp_path, root, "kid")
    assert main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "base.eval.target_data" in error and "splits.tune: missing" in error
    assert "workbench data split" in error
    assert not (tmp_path / "s" / "trials").exists()


@pytest.mark.parametrize("metric, counts, lines, words", [
    ("kid", {}, "transfer_images = 11", ["base.eval.transfer_images = 11", "holds 10 images"]),
    ("opc_auc", {}, "", ["base.eval.target_data", "holds 4 labelled episodes", "at least 20"]),
    ("opc_auc", {"episodes": 24, "successes": 0}, "", ["base.eval.target_data", "all 20 labelled episodes", "failed"]),
])
def test_target_data_split_too_small_to_measure_exits_2(tmp_path, capsys, metric, counts, lines, words):
    root = _real_dir(tmp_path / "data", **counts)
    tune_episodes = 20 if counts else 4
    assert main(["data", "split", str(root), "--tune-episodes", str(tune_episodes), "--tune-images", "10"]) == 0
    path = _target_study(tmp_path, root, metric, lines)
    assert main(["study", "run", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error
    for word in words:
        assert word in error, error
    assert not (tmp_path / "s" / "trials").exists()


def test_suite_labelled_episodes_come_from_the_tune_seeds(tmp_path):
    from studies.measure import TargetDomain
    from studies.trial_config import EvalConfig

    target = TargetDomain(EvalConfig(labelled_episodes=20, transfer_images=10), SIZE, tmp_path)
    try:
        target.check("s.toml", {"opc_auc"})  # the explorer succeeds in some of the first 20 tune seeds
        assert target.success_seed(TRIAL_EPISODES) == 900_000
        stored = sorted((tmp_path).glob("target-proxy-real-16px-tune900000-n20/*.safetensors"))
        assert len(stored) == 20
        from workbench.evaluation.suites import reset_frames

        np.testing.assert_array_equal(target.frames(), reset_frames(SUITES["proxy-real"], 10, 900_000, SIZE))
    finally:
        target.close()
