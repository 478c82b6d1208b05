"""Errors a user can cause: the CLI prints their message and exits with status 2."""


class UserError(Exception):
    """Bad input (a file, a flag, a path); the message names what, where and why."""
