"""The manifest's own integrity record: a SHA-256 over its canonical form, and one per section.

The file list in ``manifest.json`` covers every other file of a bundle; this record covers the
manifest itself. ``seal`` computes it at export; ``edited_sections`` recomputes it on load and
names the top-level sections whose content no longer matches, so an edit after export is refused
naming the field. A digest stops accidents and careless edits, not a forger (who can recompute
it): that is what the Ed25519 signature (policies.runtime.signing) is for. Standard library only.
"""

from __future__ import annotations

import hashlib
import json

INTEGRITY_KEY = "integrity"
CANONICAL_FORM = ("JSON of the manifest without its `integrity` section: keys sorted, separators ',' and ':', "
                  "ASCII only, no NaN or infinity")


def canonical_bytes(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def manifest_digest(manifest: dict) -> str:
    """SHA-256 (hex) of the manifest's canonical form, its integrity section left out."""
    body = {key: value for key, value in manifest.items() if key != INTEGRITY_KEY}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def _field_digests(manifest: dict) -> dict[str, str]:
    """A digest per top-level section and per field of a section (``safety.workspace_high_m``)."""
    digests = {}
    for key, value in manifest.items():
        if key == INTEGRITY_KEY:
            continue
        digests[key] = hashlib.sha256(canonical_bytes(value)).hexdigest()
        if isinstance(value, dict):
            for inner, item in value.items():
                digests[f"{key}.{inner}"] = hashlib.sha256(canonical_bytes(item)).hexdigest()
    return digests


def seal(manifest: dict) -> dict:
    """The integrity section for ``manifest`` (any integrity section it holds is left out)."""
    return {"canonical_form": CANONICAL_FORM, "sha256": manifest_digest(manifest),
            "fields": dict(sorted(_field_digests(manifest).items()))}


def edited_sections(manifest: dict) -> list[str] | None:
    """None when the manifest matches its integrity section, else the dotted fields that differ
    (a section's fields where the section's fields were recorded; ``["integrity"]`` when the
    record itself is missing or malformed)."""
    record = manifest.get(INTEGRITY_KEY)
    recorded = record.get("fields") if isinstance(record, dict) else None
    if not isinstance(recorded, dict) or not isinstance(record.get("sha256"), str):
        return [INTEGRITY_KEY]
    if record["sha256"] == manifest_digest(manifest):
        return None
    now = _field_digests(manifest)
    changed = sorted(name for name in set(now) | set(recorded) if now.get(name) != recorded.get(name))
    # Name the deepest fields: a section is listed only when none of its fields is.
    edited = [name for name in changed if not any(other.startswith(name + ".") for other in changed)]
    return edited or [f"{INTEGRITY_KEY}.sha256"]
