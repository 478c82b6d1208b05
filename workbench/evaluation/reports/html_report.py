"""The main job's report: one self-contained HTML page built from a run directory.

Everything is read from the files the stages wrote (``workbench.cli.main_job`` lists them), so
``workbench report RUN`` rebuilds it at any time, also from a run that is not finished (a
section whose stage has not run says so). Images are PNG data URIs, the CSS is inline and
there is no script: a browser shows it from disk without a server or network.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

from policies.runtime.files import atomic_write_bytes
from workbench.evaluation.reports import plots
from workbench.rollout.evaluate import SuccessRate, wilson_interval

STAND_IN = ("proxy-real is a simulated stand-in for real data (held-out photographs, another field of view, "
            "synthetic sensor effects), not real data: nothing in this report is a measured real-robot result.")
STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%;
text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;height:auto;border:1px solid #eee}
.headline{font-size:130%;background:#f5f9ff;border:1px solid #bcd;padding:.8em 1em}
.note{background:#fff8e5;border:1px solid #eed9a0;padding:.5em .8em}.missing{color:#888;font-style:italic}
code{background:#f3f3f3;padding:0 3px}figure{margin:.8em 0}figcaption{font-size:85%;color:#555}"""


# -- reading the run --------------------------------------------------------------------------------

def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _rate(entry: dict) -> SuccessRate:
    return SuccessRate(**{k: entry[k] for k in ("successes", "episodes", "rate", "low", "high")})


def headline(trained: dict | None, explorer: dict | None) -> dict | None:
    """Success pooled over the held-out simulation suites (every suite but the stand-in), both policies.

    Each suite ran the same number of episodes, so the pooled rate is the mean over suites; the
    Wilson interval of the pooled counts is conservative for it.
    """
    if not trained or not explorer:
        return None
    suites = [name for name, entry in trained["suites"].items() if not entry.get("stand_in")]
    result = {"suites": suites}
    for label, record in (("trained", trained), ("explorer", explorer)):
        successes = sum(record["suites"][s]["success"]["successes"] for s in suites)
        episodes = sum(record["suites"][s]["success"]["episodes"] for s in suites)
        result[label] = wilson_interval(successes, episodes).to_dict()
    result["trained_better"] = result["trained"]["rate"] > result["explorer"]["rate"]
    result["intervals_overlap"] = not (result["trained"]["low"] > result["explorer"]["high"]
                                       or result["explorer"]["low"] > result["trained"]["high"])
    return result


# -- HTML pieces ------------------------------------------------------------------------------------

def _e(value) -> str:
    return html.escape(str(value))


def _pct(entry: dict) -> str:
    return f"{entry['rate']:.1%} [{entry['low']:.1%}, {entry['high']:.1%}]"


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str, caption: str = "") -> str:
    """A PNG as a data URI; a small one (a sheet of 64-pixel frames) is shown twice as large, pixelated."""
    data = base64.b64encode(png).decode()
    width = int.from_bytes(png[16:20], "big") if png[12:16] == b"IHDR" else 0
    style = f' style="width:{2 * width}px;image-rendering:pixelated"' if 0 < width < 400 else ""
    figcaption = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{_e(alt)}"{style} src="data:image/png;base64,{data}">{figcaption}</figure>'


def _img_file(path: Path, alt: str, caption: str = "") -> str:
    return _img(path.read_bytes(), alt, caption) if path.is_file() else _missing(f"{path.name} is not there")


def _missing(why: str) -> str:
    return f'<p class="missing">Not available: {_e(why)}.</p>'


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


# -- sections --------------------------------------------------------------------------------------

def _overview(run: Path, job: dict, stages: dict) -> str:
    rows = []
    for key, record in stages.items():
        rows.append([record.get("title", key), f"{record.get('seconds', 0):.0f}", f"{record.get('estimate_s', 0):.0f}",
                     record.get("attempts", 1), record.get("finished", "")])
    total = sum(r.get("seconds", 0) for r in stages.values())
    versions = job.get("versions", {})
    parts = [f"<p>Run <code>{_e(run)}</code>: seed {_e(job.get('seed'))}, budget x{_e(job.get('budget'))}, scene "
             f"<code>{_e(job.get('scene'))}</code>, collection and warm start under <code>{_e(job.get('profile'))}</code>, "
             f"finetuning under {_e(_finetune_profile(run))}; started "
             f"{_e(job.get('started', '?'))}. Stage time in all: {total / 60:.1f} min.</p>",
             _table(["stage", "seconds", "estimate (s)", "attempts", "finished"], rows) if rows
             else _missing("no stage has finished"),
             "<h3>Versions</h3>", _table(["package", "version"], [[k, v] for k, v in versions.items()])]
    return "".join(parts)


def _finetune_profile(run: Path) -> str:
    record = _json(run / "choice.json")
    if not record:
        return "the profile the tune stage will choose"
    return "the study's choice (profile.toml)" if record["decision"] == "study" else "default"


def _training(run: Path, stages: dict) -> str:
    collect = stages.get("collect", {}).get("summary")
    parts = []
    if collect:
        parts.append(f"<p>Collection: {collect.get('episodes_on_disk', collect.get('episodes'))} explorer episodes "
                     f"on disk (explorer success while collecting {collect.get('explorer_success', 0):.1%}).</p>")
    rows = []
    for key, phase in (("warm-start", "warm start (offline phase)"), ("finetune", "finetune")):
        train = stages.get(key, {}).get("summary")
        if train:
            profile = train.get("profile", "default") if key == "finetune" else "default"
            rows.append([phase, train.get("learner_step"), train.get("offline_steps"), train.get("offline_episodes"),
                         train.get("online_episodes"), _number(train.get("online_success_rate")), profile,
                         train.get("stopped_by")])
    if rows:
        parts.append(_table(["phase", "learner step at its end", "offline steps (phase switch)", "offline episodes",
                             "online episodes", "online success (with noise)", "collected under", "stopped by"],
                            rows))
    curve = run / "learning_curve.png"
    if not curve.is_file() and (run / "history.json").is_file():
        parts.append(_replotted_curve(run))
    else:
        parts.append(_img_file(curve, "learning curve", "Loss, Q and on-policy success against learner step "
                                                         "(dotted: offline phase -> joint finetuning)."))
    return "".join(parts)


def _replotted_curve(run: Path) -> str:
    import tempfile

    from workbench.training.run_log import plot_learning_curve

    config = _json(run / "config.json") or {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "curve.png"
        plot_learning_curve(_json(run / "history.json") or [], config.get("offline_steps", 0), path)
        return _img(path.read_bytes(), "learning curve", "Re-plotted from history.json.")


def _paired(entry: dict | None) -> str:
    if not entry:
        return "-"
    return f"{entry['difference'] * 100:+.1f} [{entry['low'] * 100:+.1f}, {entry['high'] * 100:+.1f}]"


def _evaluation(run: Path, trained: dict | None, explorer: dict | None, top: dict | None,
                paired: dict | None) -> str:
    if not trained or not explorer:
        return _missing("the evaluate stage has not run")
    rows, results = [], {}
    for name, entry in trained["suites"].items():
        mine, base = entry["success"], explorer["suites"][name]["success"]
        label = name + (" (simulated stand-in)" if entry.get("stand_in") else "")
        rows.append([label, _pct(mine), f"{mine['successes']}/{mine['episodes']}", _pct(base),
                     f"{base['successes']}/{base['episodes']}", _paired((paired or {}).get(name)),
                     entry.get("description", "")])
        results[name] = {"trained QT-Opt": _rate(mine), "explorer": _rate(base)}
    parts = [f"<p>{trained['episodes']} episodes per suite and policy, the same scenes for both (reset seeds "
             f"{trained['seed']} to {trained['seed'] + trained['episodes'] - 1}{_split_words(trained)}), held-out "
             "test objects, "
             f"{trained['image_size']}x{trained['image_size']} images. Intervals: 95% Wilson; the paired "
             f"difference (trained - explorer, points) compares the two on the same episodes, with a 95% "
             f"Student-t interval.</p>",
             _table(["suite", "trained QT-Opt", "successes", "explorer", "successes", "paired difference",
                     "what it changes"], rows),
             _img(plots.success_per_suite(results), "success per suite, trained vs explorer",
                  "Success per suite with 95% intervals."),
             _img_file(run / "reports" / "eval-all" / "suite_samples.png", "suite samples",
                       "First frames of the first episodes of each suite, as the policy saw them."),
             f'<p class="note">{_e(STAND_IN)}</p>']
    if top:
        parts.insert(0, f"<p>Pooled over the held-out simulation suites ({', '.join(top['suites'])}): "
                        f"trained {_pct(top['trained'])}, explorer {_pct(top['explorer'])}.</p>")
    return "".join(parts)


def _split_words(record: dict) -> str:
    """Which target split an evaluation's seeds come from: what a reader needs to trust a held-out figure."""
    split = record.get("split")
    if split == "test":
        return ": the test split, which no study or choice of profile saw"
    return f": the {split} split" if split else ""


def _headline(top: dict | None) -> str:
    if not top:
        return _missing("no held-out evaluation yet")
    verdict = ("the trained policy is better and the intervals do not overlap" if top["trained_better"]
               and not top["intervals_overlap"] else "the trained policy is better, but the intervals overlap"
               if top["trained_better"] else "the trained policy does NOT beat the explorer")
    paired = top.get("paired")
    if paired:  # the same episodes on both sides: the paired interval is the one that decides
        verdict = ("the trained policy is better: the paired difference's interval is above zero"
                   if paired["low"] > 0 else "the paired difference's interval includes zero or lies below it")
        verdict = (f"trained - explorer {paired['difference'] * 100:+.1f} points, 95% interval "
                   f"[{paired['low'] * 100:+.1f}, {paired['high'] * 100:+.1f}] on the same episodes; {verdict}")
    return (f'<p class="headline">Held-out success (simulation suites pooled): trained <b>{_pct(top["trained"])}</b> '
            f'vs explorer <b>{_pct(top["explorer"])}</b> ({top["trained"]["episodes"]} episodes each); '
            f"{_e(verdict)}.</p>")


def _transfer(run: Path) -> str:
    folder = run / "reports" / "transfer-proxy-real"
    record = _json(folder / "report.json")
    if not record:
        return _missing("the transfer stage has not run")
    policy, target = record["policies"][0], record["target"]
    kid, classifier, opc = policy["kid"], policy["domain_classifier"], policy.get("opc") or {}
    rows = [["ROC AUC of Q against episode success (0.5 = chance)", _number(opc.get("auc"))],
            ["SoftOPC (mean Q successful - mean Q all)", _number(opc.get("soft_opc"), 4)],
            ["KID on the policy's encoder features (95% bootstrap interval)",
             f"{kid['kid']:.4g} [{kid['low']:.4g}, {kid['high']:.4g}]"],
            ["domain classifier held-out accuracy (0.5 = indistinguishable)",
             f"{classifier['accuracy']:.1%} [{classifier['low']:.1%}, {classifier['high']:.1%}]"]]
    domain = record["domain_comparisons"][0]
    names = {"count": "images", "brightness": "brightness (mean luma, mean ± std)", "contrast": "contrast (luma std)",
             "sharpness": "sharpness (Laplacian variance)", "mean_rgb": "mean colour (R, G, B)"}
    stats = [[label, _stat(domain["sim"].get(key), key), _stat(domain["real"].get(key), key)]
             for key, label in names.items()]
    return "".join([
        f'<p class="note">Target: {_e(target["description"])}. Nothing here is a measured real-robot result.</p>',
        f"<p>{target['images']} unlabelled images, {target['episodes']} labelled explorer episodes "
        f"({target['successful_episodes']} successful). Reference: {_e(domain['reference'])}.</p>",
        _table(["metric (trained policy)", "value"], rows),
        "<h3>Image statistics</h3>", _table(["statistic", "simulation (training domain)", "proxy-real"], stats),
        "<p>Pixel histogram total variation (0: same, 1: disjoint): "
        + ", ".join(f"{c.upper()} {v:.3f}" for c, v in (domain.get("histogram_total_variation") or {}).items())
        + ".</p>",
        _img_file(folder / "samples-0.png", "simulation and proxy-real samples"),
        _img_file(folder / "histograms-0.png", "pixel and image statistic histograms"),
        _img_file(folder / "calibration.png", "Q calibration on proxy-real episodes")])


def _stat(value, key: str) -> str:
    if value is None:
        return "n/a"
    if key == "mean_rgb":
        return ", ".join(f"{v:.0f}" for v in value)
    return f"{value[0]:.1f} ± {value[1]:.1f}" if isinstance(value, list) else str(value)


def _value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _choice(run: Path) -> str:
    """The profile the final policy trained under: the decision, its paired difference, the diff against default."""
    record = _json(run / "choice.json")
    if not record:
        return _missing("the confirm stage has not run")
    chosen = "the study's choice" if record["decision"] == "study" else "default"
    parts = [f'<p class="headline">Training profile: <b>{_e(chosen)}</b> (<code>{_e(record["profile"])}</code>). '
             f"{_e(record['reason'])}.</p>"]
    rows = []
    for side in ("study", "default"):
        figures = record.get(side) or {}
        tune = figures.get("tune_metrics") or {}
        confirm = (figures.get("confirm") or {}).get("success")
        rows.append([side + (" (best trial)" if side == "study" else " (the default profile's trial)"),
                     figures.get("trial", "-"), ", ".join(f"{k} {v:.3g}" for k, v in tune.items()) or "-",
                     _pct(confirm) if confirm else "-"])
    first, count = record["first_seed"], record["episodes"]
    parts.append(f"<p>Split <b>{_e(record['split'])}</b> of {_e(record['suite'])}: trials scored on its first seeds, "
                 f"the confirmation on seeds {first} to {first + count - 1} ({count} episodes, the same for both, "
                 f"paired).</p>")
    parts.append(_table(["profile", "trial", "trial metrics (tune split)", "confirmation success [95%]"], rows))
    parts.append(f"<p>Paired difference study - default: {_e(_paired(record.get('paired')))} points "
                 "(95% Student-t interval on the same episodes; the study's profile is taken only when the "
                 "interval is above zero).</p>")
    diff = record.get("diff") or []
    if diff:
        parts.append("<h3>The chosen profile against default</h3>")
        parts.append(_table(["parameter (dotted path)", "default", "chosen"],
                            [[d["path"], _value(d["default"]), _value(d["chosen"])] for d in diff]))
    else:
        parts.append("<p>The chosen profile is <code>default</code>: no parameter differs.</p>")
    return "".join(parts)


def _study(run: Path) -> str:
    summary = _json(run / "study" / "summary.json")
    if not summary:
        return _missing("the tune stage has not run")
    trials = summary["trials"]
    objective = ", ".join(f"{o['metric']} ({o['direction']})" for o in summary["objectives"])
    evaluated = summary.get("eval") or {}
    split = evaluated.get("split") or next((t.get("split") for t in trials if t.get("split")), "tune")
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["states"].items()))
    parts = [f"<p>Study <code>{_e(summary['study'])}</code>: {_e(summary['description'])}. Measured on the {_e(split)} "
             f"split of the target ({_e(evaluated.get('suite', 'proxy-real'))}, {_e(evaluated.get('episodes', '?'))} "
             f"episodes a trial). Objective: {_e(objective)}. Trials: {_e(states)}; storage "
             f"<code>{_e(summary['storage'])}</code>.</p>"]
    best = summary.get("best") or {}
    if "trial" in best:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in best["metrics"].items())
        params = ", ".join(f"{k} = {_value(v)}" for k, v in best["params"].items())
        parts.append(f"<p>Best trial {best['trial']}: {_e(metrics)}; {_e(params)} (profile in "
                     "<code>study/best/profile.toml</code>).</p>")
    else:
        parts.append(_missing(best.get("error", "no best trial")))
    first = summary["objectives"][0]
    history = [(t["number"], t["values"][0]) for t in trials if t["state"] == "complete" and t.get("values")]
    if history:
        parts.append(_img(plots.objective_history(history, first["metric"], first["direction"] == "maximize",
                                                  summary.get("default_trial")), "objective history"))
    else:
        parts.append(_missing("no complete trial for the objective history"))
    axes = summary["pareto_axes"]
    points = [(t["metrics"][axes[0]["metric"]], t["metrics"][axes[1]["metric"]]) for t in trials
              if t["state"] == "complete" and t.get("metrics") and len(axes) == 2
              and all(t["metrics"].get(a["metric"]) is not None for a in axes)]
    if points:
        signs = [1 if a["direction"] == "maximize" else -1 for a in axes]
        front = [not any(all(s * q[i] >= s * p[i] for i, s in enumerate(signs)) and q != p for q in points)
                 for p in points]
        labels = [f"{a['metric']} ({a['direction']})" for a in axes]
        parts.append(_img(plots.pareto_scatter([(x, y, f) for (x, y), f in zip(points, front)], *labels,
                                               "complete trials and their Pareto front"), "study Pareto front"))
    else:
        parts.append(_missing("no complete trial with both Pareto axes"))
    if summary.get("importances"):
        parts.append(_img(plots.importance_bars(summary["importances"], f"parameter importances for "
                                                f"{summary['objectives'][0]['metric']} ({summary['importances_note']})"),
                          "parameter importances"))
    else:
        parts.append(_missing(f"parameter importances: {summary.get('importances_note')}"))
    rows = [[f"{t['number']}" + (" (default)" if t["number"] == summary.get("default_trial") else ""), t["state"],
             ", ".join(f"{k} {v:.3g}" for k, v in (t.get("metrics") or {}).items()),
             ", ".join(f"{k.removeprefix('randomizers.')} = {_value(v)}" for k, v in (t.get("params") or {}).items()),
             t.get("reason") or ""] for t in trials]
    parts.append(_table(["trial", "state", "metrics (tune split)", "parameters", "reason"], rows))
    return "".join(parts)


def _cem_choice(run: Path) -> str:
    record = _json(run / "cem_choice.json")
    if not record:
        return _missing("the choose-CEM stage has not run")
    first, count = record["first_seed"], record["episodes"]
    rows = [[row["setting"], row["scores_per_action"], _pct(row["success"]), f"{row['latency_ms']:.2f}",
             {True: "yes", False: "no", None: "-"}[row["within_best_interval"]], "yes" if row["under_budget"] else "no",
             "chosen" if row["chosen"] else ""] for row in record["rows"]]
    return "".join([
        f"<p>Acting CEM settings (iterations x samples x elites) of the final policy on split <b>{_e(record['split'])}"
        f"</b> of {_e(record['suite'])}, seeds {first} to {first + count - 1} (the same episodes for each). "
        f"Chosen: <b>{_e(record['chosen'])}</b>, {_e(record['rule'])}. The bundle acts with it.</p>",
        _table(["setting", "Q scores per action", "success [95%]", "median action latency (ms)",
                "within the best's interval", f"under {record['latency_budget_ms']:g} ms", ""], rows)])


def _bundle(run: Path) -> str:
    manifest = _json(run / "bundle" / "manifest.json")
    if not manifest:
        return _missing("the export stage has not run")
    model, source, image = manifest["model"], manifest.get("source", {}), manifest["observation"]["image"]
    action, cem, safety = manifest["action"], manifest["cem"], manifest["safety"]
    specs = [["format", f"{manifest['format']} schema {manifest['schema_version']}, created {manifest['created']}"],
             ["model", f"{model['arch']} Q-network, {model['parameters']} parameters, ONNX opset {model['onnx']['opset']}"],
             ["trained", f"learner step {source.get('learner_step')}, scene {manifest['training']['scene']}, "
                         f"profile {manifest['training']['profile']}"],
             ["observation", f"image {image['height']}x{image['width']}x{image['channels']} {image['dtype']} "
                             f"{image['channel_order']}; state: gripper closed, height"],
             ["action", ", ".join(d["name"] for d in action["dims"]) + f"; max translation {action['max_translation_m']} m"],
             ["CEM", f"{cem['iterations']} iterations x {cem['samples']} samples, {cem['elites']} elites"
                     + (f"; latency budget {cem['latency_budget_ms']:g} ms, measured {cem['measured_latency_ms']:.2f} ms"
                        if "latency_budget_ms" in cem else "")],
             ["control", f"{manifest['control']['rate_hz']:.3g} Hz, at most {manifest['control']['max_steps']} steps"],
             ["safety", f"workspace {safety['workspace_low_m']} .. {safety['workspace_high_m']} m, observations "
                        f"older than {safety['max_observation_age_s']} s stop"],
             ["source", f"git {manifest['workbench'].get('git_revision')} (dirty: {manifest['workbench'].get('git_dirty')})"]]
    files = [[name, entry["bytes"], entry["sha256"]] for name, entry in manifest["files"].items()]
    return "".join(["<p>The bundle in <code>bundle/</code> (verified by the torch-free runtime on export):</p>",
                    _table(["", "manifest"], specs), _table(["file", "bytes", "SHA-256"], files)])


def _drive(run: Path) -> str:
    record = _json(run / "drive.json")
    if not record:
        return _missing("the drive stage has not run")
    bundle, torch_run, agreement = record["bundle"], record["run"], record["agreement"]
    rows = [["bundle through the sim driver", bundle["via"], _pct(bundle), f"{bundle['successes']}/{bundle['episodes']}"],
            ["training run (torch)", torch_run["via"], _pct(torch_run), f"{torch_run['successes']}/{torch_run['episodes']}"]]
    verdict = "within" if record["bundle_within_run_interval"] else "OUTSIDE"
    return "".join([
        f"<p>Closed loop in simulation on the held-out objects, scene {_e(bundle['scene'])}, profile "
        f"{_e(bundle['profile'])}, the same scenes and CEM seeds for both.</p>",
        _table(["policy", "via", "success [95% interval]", "successes"], rows),
        f"<p>Bundle success is {verdict} the run's interval (difference {record['difference']:+.1%}). Step by step: "
        f"{agreement['same_step_count']}/{agreement['episodes']} episodes of equal length, "
        f"{agreement['identical_actions_episodes']} with identical actions, largest action difference "
        f"{agreement['max_action_difference']:.3g}. Runtime act latency p50 {bundle['act_ms_p50']:.2f} ms, p99 "
        f"{bundle['act_ms_p99']:.2f} ms; {bundle['stops']} safety stops in {bundle['steps']} steps.</p>"])


# -- the page -------------------------------------------------------------------------------------

def build_html_report(run_dir: str | Path) -> str:
    run = Path(run_dir)
    job = _json(run / "main_job.json") or {}
    stages = {path.stem: _json(path) or {} for path in sorted((run / "stages").glob("*.json"))
              if not path.name.endswith(".attempt.json")}
    order = ["scene-sheet", "randomization-sheet", "collect", "warm-start", "tune", "confirm", "finetune", "choose-cem",
             "evaluate", "transfer", "export", "drive", "report"]
    stages = dict(sorted(stages.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    trained = _json(run / "reports" / "eval-all" / "report.json")
    explorer = _json(run / "baselines" / "explorer" / "eval-all" / "report.json")
    evaluated = stages.get("evaluate", {}).get("summary", {})
    top = evaluated.get("headline") or headline(trained, explorer)
    sections = [
        ("Overview", _overview(run, job, stages)),
        ("Scene and randomization", _img_file(run / "scene_sheet.png", "scene sheet",
                                              "The built-in scene in its canonical look (profile none).")
         + _img_file(run / "randomization_sheet.png", "randomization sheet",
                     f"First frames under the collection profile ({job.get('profile', '?')}).")),
        ("Tuning: the profile the final policy trained under", _choice(run)),
        ("Tune study", _study(run)),
        ("Data and learning curve", _training(run, stages)),
        ("Acting CEM", _cem_choice(run)),
        ("Held-out success: trained QT-Opt vs the explorer",
         _evaluation(run, trained, explorer, top, evaluated.get("paired_by_suite"))),
        ("Transfer metrics on proxy-real (simulated)", _transfer(run)),
        ("Exported bundle", _bundle(run)),
        ("Closed-loop drive of the bundle", _drive(run)),
    ]
    body = "".join(f"<h2>{_e(title)}</h2>{content}" for title, content in sections)
    title = f"workbench run {job.get('name', run.name)}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<link rel="icon" href="data:,"><style>{STYLE}</style></head><body><h1>{_e(title)}</h1>'
            f"<p>Report written {time.strftime('%Y-%m-%d %H:%M:%S')} from <code>{_e(run)}</code>.</p>"
            f"{_headline(top)}{body}</body></html>\n")


def write_html_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    atomic_write_bytes(path, build_html_report(run_dir).encode())
    return path
