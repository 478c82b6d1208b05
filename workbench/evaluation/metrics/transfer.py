"""All transfer metrics of one trained policy against one target data set.

The simulation side is the policy's training domain: frames rendered in the run's
scene with its training profile (or ``sim_profile``), on the training objects, as
many as the target has images (up to ``max_images``). The target side is the
data set's unlabelled images, or, when it has none, its episodes' step images.
Both go through the policy's own image encoder for KID and the domain classifier;
the image statistics are computed on the pixels. Labelled episodes give the
off-policy classification metrics of the policy's Q-function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.errors import UserError
from workbench.evaluation.metrics.domain_classifier import DomainClassifierResult, domain_classifier_accuracy
from workbench.evaluation.metrics.features import encoder_features, q_values
from workbench.evaluation.metrics.image_stats import ImageSetStats, histogram_distance, image_set_stats
from workbench.evaluation.metrics.kid import KIDResult, kernel_inception_distance
from workbench.evaluation.metrics.opc import OPCResult, off_policy_classification
from workbench.evaluation.realdata import RealData

REFERENCE_SOURCE = 50  # seed stream of the simulated reference frames
MIN_IMAGES = 10  # per domain: 5-fold cross-validation needs 5 of each, KID 2


@dataclass(frozen=True)
class RunQNetwork:
    """A training run's Q-network and what it was trained on."""

    run: Path
    qnet: object  # policies.qtopt.qnet.QNetwork
    image_size: int
    max_translation: float
    scene: str
    profile: str | None  # training profile from config.json; None when the run has no config.json


def load_run_qnet(run_dir: str | Path) -> RunQNetwork:
    """The Q-network of a run directory's checkpoint (the one place transfer loads a run)."""
    from workbench.rollout.qtopt_policy import load_run_policy
    from workbench.training.config import RunPaths, load_run_config

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a run directory (transfer metrics need a policy with a Q-network)")
    policy = load_run_policy(run_dir)
    paths = RunPaths(run_dir)
    config = load_run_config(paths) if paths.config.exists() else None
    return RunQNetwork(run_dir, policy.qnet, int(policy.qnet.image_size), float(policy.spec.max_translation),
                       config.scene if config else "bin_grasp", config.profile if config else None)


def training_domain_frames(scene: str, profile: str, count: int, seed: int, image_size: int) -> np.ndarray:
    """First frames (objects settled, gripper raised) of ``count`` training-domain scenes."""
    from workbench.rollout.collect import episode_seed
    from workbench.sim.env import GraspEnv

    env = GraspEnv(scene, split="train", image_size=image_size, profile=profile)
    try:
        return np.stack([env.reset(seed=episode_seed(seed, REFERENCE_SOURCE, i))[0]["image"] for i in range(count)])
    finally:
        env.close()


def target_images(real: RealData) -> tuple[np.ndarray, str]:
    """The images the domain-gap metrics compare: unlabelled ones if any, else episode steps."""
    if len(real.images):
        images, kind = real.images, "unlabelled images"
    else:
        images, kind = real.camera_images(), "episode step images (the data set has no unlabelled images)"
    if len(images) < MIN_IMAGES:
        raise UserError(f"{real.root}: {len(images)} {kind.split(' (')[0]}; the domain-gap metrics need at least "
                        f"{MIN_IMAGES} (5-fold cross-validation of the domain classifier)")
    return images, kind


def check_compatible(run: RunQNetwork, real: RealData) -> None:
    """Labelled actions must be on the scale the Q-network was trained with."""
    if real.episodes and not np.isclose(real.manifest.max_translation, run.max_translation):
        raise UserError(f"{real.root}: actions are in steps of up to {real.manifest.max_translation} m, "
                        f"{run.run} was trained with max_translation {run.max_translation} m; "
                        "its Q-values at these actions would mean nothing")


def subsample(images: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(images) <= limit:
        return images
    return images[np.sort(rng.choice(len(images), limit, replace=False))]


@dataclass(frozen=True)
class PolicyTransfer:
    policy: str
    kid: KIDResult
    domain_classifier: DomainClassifierResult
    opc: OPCResult | None  # None when the data set has no labelled episodes

    def to_dict(self) -> dict:
        return {"policy": self.policy, "kid": self.kid.to_dict(),
                "domain_classifier": self.domain_classifier.to_dict(),
                "opc": None if self.opc is None else self.opc.to_dict()}


@dataclass(frozen=True)
class DomainComparison:
    """The pixels of the two sides: what the image statistics and the report's figures show."""

    reference: str  # e.g. "bin_grasp, profile none, train objects"
    sim_images: np.ndarray
    real_images: np.ndarray
    real_kind: str
    sim_stats: ImageSetStats
    real_stats: ImageSetStats

    def to_dict(self) -> dict:
        return {"reference": self.reference, "target_images": self.real_kind,
                "sim": self.sim_stats.to_dict(), "real": self.real_stats.to_dict(),
                "histogram_total_variation": histogram_distance(self.sim_stats, self.real_stats)}


def compare_domains(reference: str, sim_images: np.ndarray, real_images: np.ndarray,
                    real_kind: str) -> DomainComparison:
    return DomainComparison(reference, sim_images, real_images, real_kind,
                            image_set_stats(sim_images), image_set_stats(real_images))


def measure_policy(run: RunQNetwork, real: RealData, domains: DomainComparison, rng: np.random.Generator,
                   bootstrap: int = 1000) -> PolicyTransfer:
    """KID and domain classifier on the policy's encoder features; OPC on the labelled episodes."""
    sim_features = encoder_features(run.qnet, domains.sim_images)
    real_features = encoder_features(run.qnet, domains.real_images)
    kid = kernel_inception_distance(sim_features, real_features, rng, bootstrap=bootstrap)
    classifier = domain_classifier_accuracy(sim_features, real_features, rng)
    opc = None
    if real.episodes:
        check_compatible(run, real)
        images, states, actions, episode_index, success = real.transitions()
        q = q_values(run.qnet, images, states, actions)
        opc = off_policy_classification(q, episode_index, success)
    return PolicyTransfer(str(run.run), kid, classifier, opc)


def describe_target(real: RealData) -> str:
    """One honest line on what the target data is."""
    manifest = real.manifest
    if manifest.source == "real":
        return f"real data from {real.root}"
    suite = (manifest.simulation or {}).get("suite", {})
    name = suite.get("name", "?") if isinstance(suite, dict) else "?"
    return (f"SIMULATED data from {real.root} (written by `workbench data export-sim`, suite {name!r}): "
            "a stand-in for real data, not real data")


def to_json(record: dict) -> str:
    return json.dumps(record, indent=2, allow_nan=False)
