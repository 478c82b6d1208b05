"""`workbench bench backends --seeds N`: the comparison of the two backends across seeds."""

import pytest

from workbench.bench.backends import compare_across_seeds, t_interval


def test_t_interval_matches_a_hand_computed_case():
    mean, low, high = t_interval([0.20, 0.30, 0.25])  # sd 0.05, t(0.975, 2) = 4.3027
    half = 4.302653 * 0.05 / 3**0.5
    assert (mean, low, high) == pytest.approx((0.25, 0.25 - half, 0.25 + half), abs=1e-6)


def test_backends_that_learn_alike_agree_within_the_interval():
    figures = compare_across_seeds([0.20, 0.30, 0.25], [0.22, 0.28, 0.30])
    assert figures["ray_mean_success"] == pytest.approx(0.8 / 3)
    assert figures["ray_minus_local"] == pytest.approx(0.05 / 3)
    assert figures["ray_within_local_ci95"] and figures["difference_ci95_holds_zero"]


def test_a_backend_that_learns_less_on_every_seed_is_caught():
    figures = compare_across_seeds([0.50, 0.52, 0.48], [0.20, 0.22, 0.18])
    assert not figures["ray_within_local_ci95"]
    assert figures["ray_minus_local_ci95_high"] < 0 and not figures["difference_ci95_holds_zero"]


def _tiny_config(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text("offline_steps = 6\nfinetune_steps = 4\nsteps_per_episode = 2\n"
                      "[qtopt]\nimage_size = 16\nbatch_size = 8\n"
                      "cem = {iterations = 1, samples = 8, elites = 2}\n"
                      "act_cem = {iterations = 1, samples = 8, elites = 2}\n")
    return config


def test_each_seed_keeps_its_figures_on_disk(tmp_path, capsys):
    # A comparison over seeds takes hours: each finished seed is on disk, so a stopped run keeps it.
    # Seed 1's local run trains in the lane process while seed 0 trains with Ray.
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    import json

    from workbench.cli import main

    config = _tiny_config(tmp_path)
    run = tmp_path / "run"
    assert main(["bench", "backends", "--seeds", "2", "--episodes", "3", "--eval-episodes", "2",
                 "--config", str(config), "--run", str(run), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for seed in ("0", "1"):
        on_disk = json.loads((run / f"seed-{seed}" / "result.json").read_text())
        assert on_disk == printed["seeds"][seed]
        assert on_disk["local_learner_steps"] == on_disk["ray_learner_steps"] == 10
    assert printed == {**printed, **compare_across_seeds([printed["seeds"][s]["local_success"] for s in "01"],
                                                         [printed["seeds"][s]["ray_success"] for s in "01"])}


def test_one_seed_compares_both_backends_in_the_run_directory(tmp_path, capsys):
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    import json

    from workbench.cli import main

    run = tmp_path / "run"
    assert main(["bench", "backends", "--episodes", "3", "--eval-episodes", "2", "--seed", "5",
                 "--config", str(_tiny_config(tmp_path)), "--run", str(run), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    on_disk = json.loads((run / "result.json").read_text())
    assert printed == {**printed, **on_disk} and "seeds" not in printed
    assert json.loads((run / "local" / "config.json").read_text())["seed"] == 5
    assert on_disk["local_online_episodes"] == on_disk["ray_online_episodes"] == 2
