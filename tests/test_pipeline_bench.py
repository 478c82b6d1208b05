"""Benchmarks `env`, `cem`, `train` and `learn` run and report their figures (speed is not asserted here)."""

import json
import os

import pytest

from workbench import cli


@pytest.fixture(autouse=True)
def restore_affinity():
    # The bench runner pins the process to --cores; give the other tests their cores back.
    cores = os.sched_getaffinity(0)
    yield
    os.sched_setaffinity(0, cores)


def bench(capsys, *argv) -> dict:
    assert cli.main(["bench", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_bench_env_measures_a_second_scene_in_the_same_run(capsys):
    figures = bench(capsys, "env", "--scene", "bin_grasp_jaco", "--compare", "bin_grasp", "--episodes", "1",
                    "--size", "32")
    assert (figures["scene"], figures["compare_scene"]) == ("bin_grasp_jaco", "bin_grasp")
    for prefix in ("", "compare_"):
        assert figures[f"{prefix}env_steps_per_s"] > 0 and figures[f"{prefix}overhead_ratio"] > 0
    assert figures["env_steps_per_s_vs_compare"] == pytest.approx(
        figures["env_steps_per_s"] / figures["compare_env_steps_per_s"])


def test_bench_cem_reports_both_architectures_and_their_ratio(capsys):
    figures = bench(capsys, "cem", "--repeats", "3")
    assert figures["cem"] == "2x64 (6 elites)" and figures["image_size"] == 64
    assert figures["fast_cem_ms_per_action"] > 0 and figures["paper_cem_ms_per_action"] > 0
    ratio = figures["fast_cem_ms_per_action"] / figures["paper_cem_ms_per_action"]
    assert figures["fast_over_paper_latency"] == pytest.approx(ratio)


def test_bench_train_reports_steps_and_labels(capsys):
    figures = bench(capsys, "train", "--image-size", "32", "--batch-size", "8", "--repeats", "1")
    for arch in ("fast", "paper"):
        assert figures[f"{arch}_bellman_labels_per_s"] > 0 and figures[f"{arch}_gradient_steps_per_s"] > 0
    assert figures["fast_over_paper_bellman_labels_per_s"] == pytest.approx(
        figures["fast_bellman_labels_per_s"] / figures["paper_bellman_labels_per_s"])


@pytest.mark.slow
def test_bench_learn_runs_the_whole_pipeline(capsys, tmp_path):
    figures = bench(capsys, "learn", "--minutes", "1.5", "--episodes", "4", "--run", str(tmp_path / "run"))
    assert figures["collect_episodes"] >= 2 and figures["learner_steps"] > 0
    assert figures["eval_episodes"] == 4 and 0 <= figures["qtopt_success"] <= 1
    assert figures["explorer_ci95_low"] <= figures["explorer_success"] <= figures["explorer_ci95_high"]
    # The same scenes for both: the paired difference is the difference of the rates.
    assert figures["qtopt_minus_explorer"] == pytest.approx(figures["qtopt_success"] - figures["explorer_success"])
    assert figures["qtopt_minus_explorer_ci95_low"] <= figures["qtopt_minus_explorer"] <= \
        figures["qtopt_minus_explorer_ci95_high"]
    assert (tmp_path / "run" / "checkpoint.safetensors").exists()
