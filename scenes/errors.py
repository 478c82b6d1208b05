"""The one error a scene file or a scene's content raises."""


class SpecError(ValueError):
    """A spec file that cannot be used; the message is ready to show a user."""
