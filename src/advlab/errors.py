"""One exception type for mistakes a user can fix (bad params, missing files).

Stage entry points catch :class:`AdvlabError` and print its message without a
traceback; anything else is a bug and keeps its traceback.
"""


class AdvlabError(Exception):
    """A user-facing error: the message names the bad input and how to fix it."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`AdvlabError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AdvlabError(message)
