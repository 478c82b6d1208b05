"""Ed25519 signatures over a bundle: who exported it, not only that it is intact.

The integrity digest (policies.runtime.integrity) detects an edit but a forger can recompute it; a
signature needs the private key. ``sign_bundle`` signs the manifest's canonical SHA-256 (which
covers every file's SHA-256) and writes ``signature.json`` beside the manifest;
``verify_signature`` recomputes that digest and checks it against a public key the robot holds.
Keys are PEM files: the private key (PKCS#8, unencrypted, mode 0600) and ``KEY.pub``
(SubjectPublicKeyInfo). Needs the ``cryptography`` package, imported only when signing or
when a signature is required.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from policies.runtime.bundle import MANIFEST_NAME, SIGNATURE_NAME, Bundle, BundleError
from policies.runtime.files import atomic_write_bytes
from policies.runtime.input_files import InputFileError, load_json, read_bytes
from policies.runtime.integrity import manifest_digest

ALGORITHM = "ed25519"
MAX_KEY_BYTES = 64 * 1024


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file."""


def _serialization():
    from cryptography.hazmat.primitives import serialization

    return serialization


def _signed_message(digest: str) -> bytes:
    return f"workbench-policy-bundle manifest sha256 {digest}".encode()


def generate_key(path: str | os.PathLike) -> tuple[Path, Path]:
    """Write a new private key to ``path`` (0600) and its public key to ``path.pub``; refuses to overwrite."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    serialization = _serialization()
    private_path, public_path = Path(path), Path(f"{path}.pub")
    for existing in (private_path, public_path):
        if existing.exists():
            raise KeyFileError(f"{existing}: already exists; a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        private_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "wb") as stream:
            stream.write(private)
            stream.flush()
            os.fsync(stream.fileno())
        atomic_write_bytes(public_path, public)
    except OSError as error:
        raise KeyFileError(f"{private_path}: cannot write the key ({error.strerror or error})") from None
    return private_path, public_path


def _read_key(path: str | os.PathLike, private: bool):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    serialization = _serialization()
    try:
        data = read_bytes(path, MAX_KEY_BYTES)
    except InputFileError as error:
        raise KeyFileError(str(error)) from None
    kind = "private" if private else "public"
    try:
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as error:
        raise KeyFileError(f"{path}: not a PEM {kind} key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey if private else Ed25519PublicKey):
        raise KeyFileError(f"{path}: a {type(key).__name__}, expected an Ed25519 {kind} key")
    return key


def sign_bundle(bundle_dir: str | os.PathLike, private_key: str | os.PathLike) -> dict:
    """Sign the bundle's manifest digest; writes signature.json and returns its content."""
    from policies.runtime.bundle import open_bundle

    bundle = open_bundle(bundle_dir)  # only an intact bundle is signed
    key = _read_key(private_key, private=True)
    serialization = _serialization()
    digest = manifest_digest(bundle.manifest)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    record = {"algorithm": ALGORITHM, "manifest_sha256": digest,
              "public_key": base64.b64encode(public).decode(),
              "signature": base64.b64encode(key.sign(_signed_message(digest))).decode()}
    atomic_write_bytes(Path(bundle_dir) / SIGNATURE_NAME, json.dumps(record, indent=2).encode())
    return record


def verify_signature(bundle: Bundle, public_key: str | os.PathLike) -> None:
    """BundleError unless signature.json signs the opened bundle's manifest digest with ``public_key``."""
    from cryptography.exceptions import InvalidSignature

    bundle_dir = bundle.path
    try:
        key = _read_key(public_key, private=False)
    except KeyFileError as error:
        raise BundleError(public_key, str(error).removeprefix(f"{public_key}: ")) from None
    path = bundle_dir / SIGNATURE_NAME
    if not path.exists():
        raise BundleError(path, "missing: the bundle is unsigned and a signature is required "
                          "(sign it with `workbench sign BUNDLE --key KEY`)")
    try:
        record = load_json(path, MAX_KEY_BYTES)
    except InputFileError as error:
        raise BundleError(path, error.problem) from None
    if not isinstance(record, dict) or record.get("algorithm") != ALGORITHM:
        raise BundleError(path, f"field algorithm = {record.get('algorithm') if isinstance(record, dict) else None!r}:"
                          f" expected {ALGORITHM!r}")
    try:
        signature = base64.b64decode(record.get("signature", ""), validate=True)
    except (ValueError, TypeError):
        raise BundleError(path, "field signature: not base64") from None
    digest = manifest_digest(bundle.manifest)
    try:
        key.verify(signature, _signed_message(digest))
    except InvalidSignature:
        raise BundleError(path, f"field signature: does not verify with the public key {public_key} for this "
                          f"{MANIFEST_NAME} (signed by another key, or the bundle changed after signing)") from None
