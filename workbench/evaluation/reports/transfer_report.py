"""The transfer report: success on held-out suites and transfer metrics, one column per policy.

With two policies a third column gives the difference (second minus first), the
comparison a randomization choice is judged by (e.g. trained with `none` versus `wide`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workbench.evaluation.metrics.transfer import DomainComparison, PolicyTransfer
from workbench.evaluation.reports import plots
from workbench.evaluation.reports.markdown import interval, number, percent, signed, table
from workbench.evaluation.suites import STAND_IN_NOTE
from workbench.rollout.evaluate import SuccessRate

READING_GUIDE = (
    "How to read it: KID is 0 in expectation when the policy's encoder sees the target images as it sees "
    "its training domain, and grows with the gap; each policy's KID is in units of its own encoder's features, "
    "so across policies compare whether it is significant more than its size. A domain classifier at 50% "
    "cannot tell the domains apart (this one is scale-free). "
    "ROC AUC (0.5 = chance) and SoftOPC (> 0: Q is higher on successful episodes) say whether the "
    "Q-function predicts outcomes on the target data (Irpan et al. 2019). Q is a discounted return "
    "(success k steps ahead is worth gamma^k), not a probability, so the calibration curve is read for "
    "its slope, not its distance from the diagonal."
)


@dataclass(frozen=True)
class PolicyColumn:
    label: str  # the run directory as given
    transfer: PolicyTransfer
    domain: int  # index into the report's domain comparisons
    success: dict[str, SuccessRate]  # suite -> success (empty when no suite was evaluated)


def transfer_record(target: dict, columns: list[PolicyColumn], domains: list[DomainComparison],
                    settings: dict) -> dict:
    record = {
        "target": target,
        "settings": settings,
        "policies": [{**c.transfer.to_dict(), "domain_comparison": c.domain,
                      "success": {k: v.to_dict() for k, v in c.success.items()}} for c in columns],
        "domain_comparisons": [d.to_dict() for d in domains],
    }
    if target["source"] != "real" or any("proxy-real" in c.success for c in columns):
        record["note"] = STAND_IN_NOTE if target["source"] != "real" else (
            "success on proxy-real is on a simulated stand-in domain, not a measured real success")
    return record


def _rows(columns: list[PolicyColumn]) -> list[list[str]]:
    """Metric rows: the name, one cell per policy, and the difference when there are two."""
    two = len(columns) == 2
    rows = []

    def add(name: str, cells: list[str], values: list[float | None], as_percent: bool = False,
            significant: bool = False) -> None:
        row = [name, *cells]
        if two:
            a, b = values
            difference = None if a is None or b is None else b - a
            row.append(signed(difference, digits=4 if significant else 3, as_percent=as_percent,
                              significant=significant))
        rows.append(row)

    suites = list(dict.fromkeys(s for c in columns for s in c.success))
    for suite in suites:
        results = [c.success.get(suite) for c in columns]
        add(f"success on `{suite}` (95% interval)",
            [f"{percent(r.rate)} {interval(r.low, r.high, as_percent=True)}" if r else "n/a" for r in results],
            [r.rate if r else None for r in results], as_percent=True)
    kids = [c.transfer.kid for c in columns]
    add("KID on the policy's encoder features (95% bootstrap interval)",
        [f"{k.kid:.4g} [{k.low:.4g}, {k.high:.4g}]" for k in kids], [k.kid for k in kids], significant=True)
    classifiers = [c.transfer.domain_classifier for c in columns]
    add("domain classifier held-out accuracy (0.5 = indistinguishable)",
        [f"{percent(d.accuracy)} {interval(d.low, d.high, as_percent=True)}" for d in classifiers],
        [d.accuracy for d in classifiers], as_percent=True)
    opcs = [c.transfer.opc for c in columns]
    if any(o is not None for o in opcs):
        add("ROC AUC of Q against episode success", [number(o.auc) if o else "n/a" for o in opcs],
            [o.auc if o else None for o in opcs])
        add("SoftOPC (mean Q successful - mean Q all)", [number(o.soft_opc, 4) if o else "n/a" for o in opcs],
            [o.soft_opc if o else None for o in opcs])
        add("expected calibration error", [number(o.reliability.expected_calibration_error) if o else "n/a"
                                           for o in opcs],
            [o.reliability.expected_calibration_error if o else None for o in opcs])
        add("mean Q over transitions", [number(o.mean_q) if o else "n/a" for o in opcs],
            [o.mean_q if o else None for o in opcs])
    return rows


def _stats_table(domain: DomainComparison) -> str:
    sim, real = domain.sim_stats, domain.real_stats

    def pair(values):
        return f"{values[0]:.1f} ± {values[1]:.1f}"

    rows = [["images", str(sim.count), str(real.count)],
            ["brightness (mean luma, 0-255)", pair(sim.brightness), pair(real.brightness)],
            ["contrast (luma std)", pair(sim.contrast), pair(real.contrast)],
            ["sharpness (Laplacian variance)", pair(sim.sharpness), pair(real.sharpness)],
            ["mean colour (R, G, B)", ", ".join(f"{c:.0f}" for c in sim.mean_rgb),
             ", ".join(f"{c:.0f}" for c in real.mean_rgb)]]
    return table(["statistic", "simulation", "target"], rows)


def build_transfer_report(record: dict, columns: list[PolicyColumn],
                          domains: list[DomainComparison]) -> dict[str, bytes]:
    target = record["target"]
    header = ["metric", *[f"`{c.label}`" for c in columns]]
    if len(columns) == 2:
        header.append("second - first")
    lines = [
        "# Sim-to-real transfer report",
        "",
        (f"**Target data:** {target['description']}; {target['images']} unlabelled images, "
         f"{target['episodes']} labelled episodes ({target['successful_episodes']} successful, "
         f"{target['transitions']} transitions); {_split_words(target)}."),
        "",
    ]
    if "note" in record:
        lines += [f"**Note:** {record['note']}", ""]
    lines += [
        table(header, _rows(columns)),
        "",
        READING_GUIDE,
        "",
    ]
    files: dict[str, bytes] = {}
    if any(c.success for c in columns):
        suites = list(dict.fromkeys(s for c in columns for s in c.success))
        files["success_per_suite.png"] = plots.success_per_suite(
            {s: {c.label: c.success[s] for c in columns if s in c.success} for s in suites})
        lines += ["![success per suite](success_per_suite.png)", ""]
    curves = {c.label: c.transfer.opc.reliability for c in columns if c.transfer.opc is not None}
    if curves:
        files["calibration.png"] = plots.reliability(curves)
        lines += ["![calibration curve](calibration.png)", ""]
    for index, domain in enumerate(domains):
        users = ", ".join(f"`{c.label}`" for c in columns if c.domain == index)
        samples, histograms = f"samples-{index}.png", f"histograms-{index}.png"
        files[samples] = plots.sample_grids(domain.sim_images, domain.real_images,
                                            f"simulation: {domain.reference}", f"target: {domain.real_kind}")
        files[histograms] = plots.histogram_overlays(domain.sim_images, domain.real_images, domain.sim_stats,
                                                     domain.real_stats, "simulation", "target")
        lines += [f"## Simulation ({domain.reference}) against the target, for {users}", "",
                  _stats_table(domain), "", f"![sample images]({samples})", "",
                  f"![histograms]({histograms})", ""]
    files["report.md"] = "\n".join(lines).encode()
    files["report.json"] = json.dumps(record, indent=2).encode()
    return files


def _split_words(target: dict) -> str:
    """Which files of the target a figure comes from: a reader must know whether a study saw them."""
    if target.get("split") == "test":
        return "the test split, which no study saw"
    if target.get("split"):
        return f"the {target['split']} split"
    return "every file" + (" (tune and test splits together)" if target.get("splits") else " (no splits assigned)")
