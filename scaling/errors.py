"""The one exception the planner raises for bad input, and how a message becomes one line.

The CLI turns it into one line on stderr and exit code 2; library users catch it like any ValueError.
"""


class ScalingError(ValueError):
    """Bad input to the planner: the message says what is wrong and how to fix it."""


def first_line(text) -> str:
    """The first non-blank line of a message (an exception's or a library's), for a one-line report; "" if none."""
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")
