"""The metrics a study can optimize or constrain, and which kind of trial measures them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # the better way: "maximize" or "minimize"
    kinds: tuple[str, ...]
    description: str


METRICS = {m.name: m for m in (
    Metric("success", "maximize", ("pipeline", "cem"),
           "success rate of the greedy CEM policy on the eval suite (eval.episodes episodes)"),
    Metric("latency_ms", "minimize", ("pipeline", "cem"),
           "median wall time of one CEM action (measured during the success episodes)"),
    Metric("kid", "minimize", ("pipeline",),
           "domain gap: kernel inception distance between training-domain and target frames, "
           "on the policy's own image encoder"),
    Metric("domain_accuracy", "minimize", ("pipeline",),
           "domain gap: held-out accuracy of a classifier telling training-domain from target frames "
           "(0.5: indistinguishable)"),
    Metric("opc_auc", "maximize", ("pipeline",),
           "off-policy classification: ROC AUC of Q at the taken actions against the success of "
           "labelled target episodes (0.5: chance)"),
    Metric("soft_opc", "maximize", ("pipeline",),
           "SoftOPC: mean Q over successful target episodes' transitions minus mean Q over all"),
)}

SUCCESS = "success"
LATENCY = "latency_ms"
DOMAIN = ("kid", "domain_accuracy")
OPC = ("opc_auc", "soft_opc")


class MetricUndefined(ValueError):
    """A metric that cannot be computed for this trial (the message says why)."""
