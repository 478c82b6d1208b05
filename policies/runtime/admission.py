"""What a robot checks before it acts on a bundle: integrity, its own envelope, the signature.

``admit_bundle`` opens the bundle (schema, fields, bounded work, every file's SHA-256, the
manifest's own digest), then, when a public key is given, requires a valid Ed25519 signature,
and checks the manifest against the robot's envelope. The runtime, ``workbench drive`` and the
policy server all come through here.
"""

from __future__ import annotations

import os

from policies.runtime.bundle import Bundle, open_bundle
from policies.runtime.envelope import RobotEnvelope, default_envelope

ROBOT_DEFAULT = "robot default"  # marker: the envelope in policies/runtime/robot_envelope.toml


def admit_bundle(path: str | os.PathLike, *, envelope: RobotEnvelope | str | None = ROBOT_DEFAULT,
                 require_signature: str | os.PathLike | None = None) -> Bundle:
    """The opened bundle, or BundleError naming the file and field. ``envelope=None`` skips the
    envelope (the exporter checks its own output, not a robot)."""
    bundle = open_bundle(path)
    if require_signature is not None:
        from policies.runtime.signing import verify_signature

        verify_signature(bundle, require_signature)
    if envelope is not None:
        (default_envelope() if envelope == ROBOT_DEFAULT else envelope).check_bundle(bundle)
    return bundle
