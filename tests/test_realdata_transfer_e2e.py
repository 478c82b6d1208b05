"""End to end: `workbench data export-sim`, then `workbench transfer --real` on what it wrote."""

import json
import shutil

import pytest
from transfer_helpers import make_tiny_run, suite_cache  # noqa: F401 (suite_cache is a fixture)

from workbench.cli import main

pytestmark = pytest.mark.usefixtures("suite_cache")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = root / "proxy"
    code = main(["data", "export-sim", "--out", str(data), "--suite", "proxy-real", "--images", "20",
                 "--episodes", "4", "--image-size", "32", "--seed", "3", "--json"])
    assert code == 0
    return root, data


def test_export_sim_writes_valid_simulated_data(exported, capsys):
    _, data = exported
    assert main(["data", "validate", str(data), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["source"] == "simulation" and summary["images"] == 20 and summary["episodes"] == 4
    manifest = json.loads((data / "realdata.json").read_text())
    assert manifest["simulation"]["suite"]["name"] == "proxy-real" and "Not real data" in manifest["description"]


def test_transfer_runs_end_to_end(exported, capsys):
    root, data = exported
    run_none = make_tiny_run(root / "run-none", profile="none", seed=0)
    run_wide = make_tiny_run(root / "run-wide", profile="wide", seed=1)
    report = root / "report"
    code = main(["transfer", "--policy", str(run_none), "--policy", str(run_wide), "--real", str(data),
                 "--suite", "proxy-real", "--episodes", "2", "--bootstrap", "200", "--report", str(report),
                 "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["target"]["source"] == "simulation" and "not real data" in record["target"]["description"]
    assert "stand-in" in record["note"]
    assert len(record["policies"]) == 2 and len(record["domain_comparisons"]) == 2
    for policy in record["policies"]:
        kid, opc = policy["kid"], policy["opc"]
        assert kid["low"] <= kid["kid"] <= kid["high"] and kid["n_a"] == kid["n_b"] == 20
        assert 0 <= policy["domain_classifier"]["accuracy"] <= 1
        assert opc["transitions"] > 0 and opc["episodes"] == 4
        assert sum(opc["reliability"]["count"]) == opc["transitions"]
        assert policy["success"]["proxy-real"]["episodes"] == 2
    names = {p.name for p in report.iterdir()}
    assert {"report.md", "report.json", "calibration.png", "success_per_suite.png", "samples-0.png",
            "histograms-0.png", "samples-1.png", "histograms-1.png"} <= names
    text = (report / "report.md").read_text()
    assert "second - first" in text and "ROC AUC" in text and "SIMULATED" in text


def test_transfer_bad_real_data_exits_2_and_writes_nothing(exported, capsys):
    root, data = exported
    run = make_tiny_run(root / "run-bad", profile="none")
    broken = root / "broken"
    broken.mkdir()
    (broken / "realdata.json").write_text((data / "realdata.json").read_text().replace(
        '"format_version": 1', '"format_version": 7'))
    report = root / "bad-report"
    assert main(["transfer", "--policy", str(run), "--real", str(broken), "--report", str(report)]) == 2
    err = capsys.readouterr().err
    assert "realdata.json" in err and "format_version 7 is unknown" in err
    assert not report.exists() and not (run / "reports").exists()


def test_transfer_needs_a_run_directory(exported, capsys):
    _, data = exported
    assert main(["transfer", "--policy", "oracle", "--real", str(data)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_export_sim_refuses_an_existing_directory(exported, capsys):
    _, data = exported
    assert main(["data", "export-sim", "--out", str(data), "--images", "1", "--episodes", "0"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_transfer_reports_the_test_split_by_default_and_says_so(exported, capsys, tmp_path):
    root, data = exported
    split_data = tmp_path / "split"
    shutil.copytree(data, split_data)
    assert main(["data", "split", str(split_data), "--tune-episodes", "2", "--tune-images", "10", "--seed", "0"]) == 0
    run = make_tiny_run(root / "run-split", profile="none")
    measured = {}
    for flag in ([], ["--split", "all"], ["--split", "tune"]):
        capsys.readouterr()
        assert main(["transfer", "--policy", str(run), "--real", str(split_data), "--bootstrap", "50", "--report",
                     str(tmp_path / f"report{len(measured)}"), "--json", *flag]) == 0
        measured[tuple(flag)] = json.loads(capsys.readouterr().out)["target"]
    default, every, tune = measured[()], measured[("--split", "all")], measured[("--split", "tune")]
    assert default["split"] == "test" and (default["episodes"], default["images"]) == (2, 10)
    assert every["split"] is None and (every["episodes"], every["images"]) == (4, 20)
    assert tune["split"] == "tune" and (tune["episodes"], tune["images"]) == (2, 10)
    assert "the test split, which no study saw" in (tmp_path / "report0" / "report.md").read_text()
    assert "tune and test splits together" in (tmp_path / "report1" / "report.md").read_text()
