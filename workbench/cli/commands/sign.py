"""`workbench sign`: Ed25519 keys and bundle signatures (policies.runtime.signing; docs/hardware.md)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("sign", help="sign a policy bundle (Ed25519), or make a signing key")
    parser.add_argument("bundle", nargs="?", help="bundle directory from `workbench export`")
    parser.add_argument("--key", metavar="KEY", help="private key (PEM) to sign the bundle with")
    parser.add_argument("--new-key", metavar="KEY",
                        help="write a new private key to KEY (mode 0600) and its public key to KEY.pub")
    parser.set_defaults(func=sign_command)


def sign_command(args: argparse.Namespace) -> int:
    from policies.runtime.bundle import BundleError
    from policies.runtime.signing import KeyFileError, generate_key, sign_bundle
    from workbench.errors import UserError

    if args.new_key is not None:
        if args.bundle is not None or args.key is not None:
            raise UserError("--new-key only makes a key; sign with `workbench sign BUNDLE --key KEY` afterwards")
        try:
            private, public = generate_key(args.new_key)
        except KeyFileError as error:
            raise UserError(str(error)) from None
        print(f"private key {private} (keep it with whoever exports bundles); public key {public} (give it to "
              "the robot: --require-signature)")
        return 0
    if args.bundle is None or args.key is None:
        raise UserError("give a BUNDLE and --key KEY to sign it, or --new-key KEY to make a key")
    try:
        record = sign_bundle(args.bundle, args.key)
    except (BundleError, KeyFileError) as error:
        raise UserError(str(error)) from None
    print(f"{args.bundle}: signed manifest sha256 {record['manifest_sha256']} (public key {record['public_key']})")
    return 0
