"""`workbench serve BUNDLE`: the bundle's policy over websockets (msgpack), for a robot controller.

The server itself is policies.runtime.server (torch-free; `python -m policies.server` takes the same options).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from policies.runtime.server import add_arguments

    parser = subparsers.add_parser("serve", help="serve a policy bundle over websockets")
    add_arguments(parser)
    parser.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from policies.runtime.server import serve_forever, server_from_args
    from workbench.errors import UserError

    try:
        server = server_from_args(args)
    except ValueError as error:  # BundleError included: it names the file
        raise UserError(str(error)) from None
    try:
        serve_forever(server, args.bundle)
    except OSError as error:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({error.strerror or error})") from None
    return 0
