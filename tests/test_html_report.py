"""The main job's report.html: built from a small run directory, rendered in headless Chromium.

The run directory is made by the real writers where they are quick (the sheets, the eval and
transfer report builders, the bundle export, the closed-loop drive) and by fixture files
where the real stage takes minutes (training history, the study's summary). Chromium must
load every image, log no error and request nothing outside the file and its data: URIs.
"""

import json
import os

import numpy as np
import pytest
from browser_helpers import find_browser, render
from bundle_helpers import make_run
from transfer_helpers import suite_cache  # noqa: F401 (a fixture)

from policies.runtime.files import atomic_write_bytes
from workbench.cli import main
from workbench.cli.main_job import (
    EXPLORER_EVAL,
    TRAINED_EVAL,
    TRANSFER_REPORT,
    Plan,
    StageContext,
    drive_stage,
    export_stage,
    randomization_sheet,
    scene_sheet,
    start_job,
)
from workbench.evaluation.reports.html_report import build_html_report, headline, write_html_report
from workbench.rollout.evaluate import wilson_interval

pytestmark = pytest.mark.usefixtures("suite_cache")

SUCCESSES = {"trained": [9, 8, 7, 9, 8, 5], "explorer": [3, 2, 3, 4, 2, 1]}  # of 20, per suite in SUITES order


def write_json(path, data) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2).encode())


def write_eval_reports(run) -> None:
    from workbench.evaluation.reports.directory import write_report_directory
    from workbench.evaluation.reports.eval_report import build_eval_report, eval_record
    from workbench.evaluation.suites import SUITES

    suites = list(SUITES.values())
    rng = np.random.default_rng(0)
    frames = {s.name: rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8) for s in suites}
    for label, out in (("trained", TRAINED_EVAL), ("explorer", EXPLORER_EVAL)):
        results = {s.name: wilson_interval(k, 20) for s, k in zip(suites, SUCCESSES[label])}
        policy = str(run) if label == "trained" else "explorer"
        record = eval_record(policy, suites, results, 20, 1000, 32)
        write_report_directory(run / out, build_eval_report(record, suites, results, frames))


def write_transfer_report(run) -> None:
    from workbench.evaluation.metrics.domain_classifier import domain_classifier_accuracy
    from workbench.evaluation.metrics.kid import kernel_inception_distance
    from workbench.evaluation.metrics.opc import off_policy_classification
    from workbench.evaluation.metrics.transfer import PolicyTransfer, compare_domains
    from workbench.evaluation.reports.directory import write_report_directory
    from workbench.evaluation.reports.transfer_report import PolicyColumn, build_transfer_report, transfer_record

    rng = np.random.default_rng(1)
    sim, real = (rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8) for _ in range(2))
    features = rng.normal(size=(20, 8)), rng.normal(0.5, 1.0, size=(20, 8))
    episode_index = np.repeat(np.arange(6), 3)
    success = np.array([1, 0, 1, 0, 0, 1], bool)
    q = np.clip(0.3 + 0.4 * success[episode_index] + rng.normal(0, 0.1, len(episode_index)), 0, 1)
    transfer = PolicyTransfer(str(run), kernel_inception_distance(*features, rng, bootstrap=50),
                              domain_classifier_accuracy(*features, rng), off_policy_classification(q, episode_index,
                                                                                                    success))
    domain = compare_domains("bin_grasp, profile default, training objects", sim, real, "unlabelled images")
    target = {"root": "proxy-real", "source": "simulation", "images": 20, "episodes": 6, "successful_episodes": 3,
              "transitions": 18, "description": "SIMULATED data (a stand-in for real data, not real data)"}
    column = PolicyColumn(str(run), transfer, 0, {})
    record = transfer_record(target, [column], [domain], {"seed": 0})
    write_report_directory(run / TRANSFER_REPORT, build_transfer_report(record, [column], [domain]))


def write_study_summary(run) -> None:
    trials = [{"number": i, "state": state, "values": values, "metrics": metrics, "split": "tune", "params": params,
               "reason": reason}
              for i, (state, values, metrics, params, reason) in enumerate([
                  ("complete", [0.2], {"success": 0.2, "opc_auc": 0.61}, {"a": 1.5, "b": 2.0}, None),
                  ("complete", [0.3], {"success": 0.3, "opc_auc": 0.55}, {"a": 0.9, "b": 7.0}, None),
                  ("complete", [0.1], {"success": 0.1, "opc_auc": 0.50}, {"a": 2.5, "b": 4.0}, None),
                  ("fail", None, None, {"a": 2.9, "b": 1.0}, "timed out")])]
    write_json(run / "study" / "summary.json", {
        "study": "tune", "description": "a fixture study", "storage": f"sqlite:///{run}/study/study.db",
        "objectives": [{"metric": "success", "direction": "maximize"}],
        "pareto_axes": [{"metric": "success", "direction": "maximize"}, {"metric": "opc_auc", "direction": "maximize"}],
        "budget": {"trials": 4, "minutes": 1}, "states": {"complete": 3, "fail": 1}, "seconds": 10.0,
        "eval": {"suite": "proxy-real", "seed": 900000, "episodes": 50}, "default_trial": 0,
        "trials": trials, "importances": {"a": 0.7, "b": 0.3}, "importances_note": "PED-ANOVA (Optuna's default)",
        "best": {"trial": 1, "metrics": {"success": 0.3, "opc_auc": 0.55}, "params": {"a": 0.9, "b": 7.0}}})


def write_choices(run) -> None:
    """choice.json (the study's profile won, paired) and cem_choice.json plus the acting CEM they chose."""
    from policies.runtime.cem import CEMConfig
    from workbench.evaluation.tune_choice import choose_cem
    from workbench.rollout.qtopt_policy import write_acting_cem

    rate = wilson_interval(40, 100).to_dict()
    write_json(run / "choice.json", {
        "split": "tune", "suite": "proxy-real", "first_seed": 900050, "episodes": 100, "decision": "study",
        "reason": "the study's choice beats default on the tune split", "profile": "profile.toml",
        "paired": {"difference": 0.06, "low": -0.02, "high": 0.14, "episodes": 100, "a_only": 12, "b_only": 6},
        "study": {"trial": 1, "tune_metrics": {"success": 0.3}, "confirm": {"success": rate}},
        "default": {"trial": 0, "tune_metrics": {"success": 0.2}, "confirm": {"success": wilson_interval(34, 100)
                                                                              .to_dict()}},
        "diff": [{"path": "camera.fovy_offset_deg.high", "default": 3.0, "chosen": 7.25}]})
    results = [{"cem": {"iterations": i, "samples": k, "elites": e, "initial_std": 0.5},
                "success": wilson_interval(n, 100).to_dict(), "latency_ms": ms}
               for (i, k, e), n, ms in (((1, 64, 6), 25, 1.0), ((2, 64, 6), 41, 1.9), ((3, 256, 10), 43, 30.0))]
    choice = choose_cem(results, 20.0)
    write_json(run / "cem_choice.json", {"split": "tune", "suite": "proxy-real", "first_seed": 900050,
                                         "episodes": 100, **choice})
    chosen = next(row for row in choice["rows"] if row["chosen"])
    write_acting_cem(run, CEMConfig(**choice["cem"]), {"latency_budget_ms": 20.0,
                                                       "measured_latency_ms": chosen["latency_ms"],
                                                       "chosen_by": choice["rule"]})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("main-job") / "run"
    plan = Plan(sheet_tiles=4, drive_episodes=1)
    start_job(run, seed=0, budget=0.05, plan=plan)
    make_run(run, image_size=32)  # an untrained run: config.json and checkpoint.safetensors
    ctx = StageContext(run, 0, plan, 0.0)
    markers = {"scene-sheet": scene_sheet(ctx), "randomization-sheet": randomization_sheet(ctx),
               "collect": {"episodes": 40, "explorer_success": 0.2, "episodes_on_disk": 40},
               "warm-start": {"learner_step": 200, "offline_steps": 200, "offline_episodes": 44, "online_episodes": 0,
                              "online_success_rate": None, "stopped_by": "steps", "plan_minutes": 0.5},
               "finetune": {"learner_step": 300, "offline_steps": 200, "offline_episodes": 44, "online_episodes": 6,
                            "online_success_rate": 0.5, "stopped_by": "steps", "profile": "profile.toml"}}
    history = [{"step": s, "loss": 0.7 - s / 1000, "mean_q": 0.3, "target_q": 0.3, "collect_success": None}
               for s in range(100, 400, 100)]
    write_json(run / "history.json", history)  # no learning_curve.png: the report re-plots it
    write_eval_reports(run)
    write_transfer_report(run)
    write_study_summary(run)
    write_choices(run)
    markers["export"] = export_stage(ctx)
    markers["drive"] = drive_stage(ctx)
    for key, summary in markers.items():
        write_json(run / "stages" / f"{key}.json", {"stage": key, "title": key, "seconds": 1.0, "attempts": 1,
                                                    "estimate_s": 1.0, "summary": summary})
    write_html_report(run)
    return run


def test_headline_pools_the_simulation_suites_and_leaves_out_the_stand_in(run_dir):
    trained = json.loads((run_dir / TRAINED_EVAL / "report.json").read_text())
    explorer = json.loads((run_dir / EXPLORER_EVAL / "report.json").read_text())
    top = headline(trained, explorer)
    assert "proxy-real" not in top["suites"] and len(top["suites"]) == 5
    assert top["trained"]["successes"] == sum(SUCCESSES["trained"][:5]) and top["trained"]["episodes"] == 100
    assert top["trained_better"] and not top["intervals_overlap"]


def test_report_has_every_section_and_no_script_or_external_reference(run_dir):
    page = (run_dir / "report.html").read_text()
    for text in ("Held-out success (simulation suites pooled)", "trained <b>", "vs explorer <b>", "simulated stand-in",
                 "not real data", "ROC AUC", "SoftOPC", "KID", "domain classifier", "Image statistics", "Pareto",
                 "SHA-256", "q_network.onnx" if "q_network.onnx" in page else "manifest", "Closed-loop drive",
                 "Versions", "the test split, which no study", "Measured on the tune split"):
        assert text in page, text
    assert "Not available" not in page
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page


def test_report_shows_the_profile_diff_the_study_and_the_cem_choice(run_dir):
    page = (run_dir / "report.html").read_text()
    for text in ("Training profile: <b>the study&#x27;s choice</b>", "camera.fovy_offset_deg.high", "7.25",
                 "Paired difference study - default: +6.0 [-2.0, +14.0]", "objective history", "(default)",
                 "split <b>tune</b>", "Acting CEM", "2x64x6", "chosen", "latency budget 20 ms"):
        assert text in page, text
    manifest = json.loads((run_dir / "bundle" / "manifest.json").read_text())
    assert (manifest["cem"]["iterations"], manifest["cem"]["samples"]) == (2, 64)  # the choice, not act_cem
    assert manifest["cem"]["latency_budget_ms"] == 20.0 and manifest["cem"]["measured_latency_ms"] == 1.9
    from policies.runtime.bundle import open_bundle

    bundle = open_bundle(run_dir / "bundle")  # the torch-free runtime reads the choice
    assert (bundle.cem.iterations, bundle.latency_budget_ms, bundle.measured_latency_ms) == (2, 20.0, 1.9)


def test_report_renders_in_headless_chromium_with_every_image_loaded(run_dir):
    if find_browser() is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium on CI: .ci/run installs it")
        pytest.skip("no Chromium here (apt-get install chromium)")
    result = render(run_dir / "report.html")
    assert result["title"].startswith("workbench run")
    assert len(result["images"]) >= 10
    broken = [image["alt"] for image in result["images"] if not (image["complete"] and image["width"] > 0)]
    assert broken == []
    assert result["errors"] == []
    assert all(url.startswith(("file:", "data:")) for url in result["requests"])


def test_workbench_report_rebuilds_the_page(run_dir, tmp_path):
    out = tmp_path / "again.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert "Held-out success" in out.read_text()
    assert main(["report", str(tmp_path)]) == 2  # not a run directory


def test_report_of_a_run_that_has_just_started_says_what_is_missing(tmp_path):
    start_job(tmp_path, seed=0, budget=1.0, plan=Plan())
    page = build_html_report(tmp_path)
    assert page.count("Not available") >= 6 and "no held-out evaluation yet" in page
