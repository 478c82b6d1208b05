"""One module per command, each with ``register(subparsers)``.

Commands import their implementation inside the function that runs it, so ``workbench --help``
and quick commands do not load torch, MuJoCo and the learner.
"""

import json


def print_summary(summary: dict, as_json: bool, text: str) -> None:
    """A command's result: its summary as one JSON line, or ``text`` for a person."""
    print(json.dumps(summary) if as_json else text)
