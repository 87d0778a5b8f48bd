"""The one exception the planner raises for bad input.

The CLI turns it into one line on stderr and exit code 2; library users catch it like any ValueError.
"""


class ScalingError(ValueError):
    """Bad input to the planner: the message says what is wrong and how to fix it."""
