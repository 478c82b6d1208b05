"""Transfer metrics of trained policies on a real (or stand-in) data directory, as a report's inputs.

``measure_transfer`` reads and checks everything first (the runs, the data, the profiles),
then renders each distinct training domain once, measures each policy against the target
(KID, domain classifier, image statistics, OPC on labelled episodes) and, with ``suites``,
its success there. ``workbench transfer`` and ``workbench run`` write the report from it.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import UserError


def measure_transfer(policies: list[str], real_dir: str | Path, *, suites: list, episodes: int,
                     sim_profile: str | None, max_images: int, bootstrap: int, seed: int,
                     split: str | None = None) -> tuple:
    """(record, columns, domains) for ``workbench.evaluation.reports.transfer_report.build_transfer_report``.

    ``split``: "tune", "test" or "all" (every file); None: "test" where the data has splits, else every file.
    """
    import numpy as np

    from randomizers import load_profile
    from workbench.evaluation.metrics.transfer import (
        check_compatible,
        compare_domains,
        describe_target,
        load_run_qnet,
        measure_policy,
        subsample,
        target_images,
        training_domain_frames,
    )
    from workbench.evaluation.realdata import load_real_data, reported_split
    from workbench.evaluation.reports.transfer_report import PolicyColumn, transfer_record
    from workbench.evaluation.suite_eval import evaluate_suite

    runs = [load_run_qnet(policy) for policy in policies]
    # Everything the user gave is read and checked before anything is computed or written.
    split = reported_split(real_dir) if split is None else None if split == "all" else split
    real_by_size = {size: load_real_data(real_dir, image_size=size, split=split)
                    for size in {r.image_size for r in runs}}
    for run in runs:
        if (sim_profile or run.profile) is None:
            raise UserError(f"{run.run} has no config.json naming its training profile; pass --sim-profile")
        load_profile(sim_profile or run.profile)  # a bad profile fails now, not after minutes of work
        check_compatible(run, real_by_size[run.image_size])
    targets = {size: target_images(real) for size, real in real_by_size.items()}

    rng = np.random.default_rng(seed)
    targets = {size: (subsample(images, max_images, rng), kind) for size, (images, kind) in targets.items()}
    domains, domain_index, columns = [], {}, []
    for label, run in zip(policies, runs):
        profile = sim_profile or run.profile
        key = (run.scene, profile, run.image_size)
        if key not in domain_index:
            real_images, kind = targets[run.image_size]
            sim = training_domain_frames(run.scene, profile, len(real_images), seed, run.image_size)
            domain_index[key] = len(domains)
            domains.append(compare_domains(f"{run.scene}, profile {profile}, training objects", sim,
                                           real_images, kind))
        domain = domain_index[key]
        transfer = measure_policy(run, real_by_size[run.image_size], domains[domain], rng, bootstrap)
        success = {s.name: evaluate_suite(label, s, episodes, 1000 + seed, run.image_size) for s in suites}
        columns.append(PolicyColumn(label, transfer, domain, success))

    real = next(iter(real_by_size.values()))
    target = {**real.summary(), "description": describe_target(real)}
    settings = {"seed": seed, "max_images": max_images, "bootstrap": bootstrap, "sim_profile": sim_profile,
                "suites": [s.name for s in suites], "episodes": episodes if suites else 0, "suite_seed": 1000 + seed}
    return transfer_record(target, columns, domains, settings), columns, domains
