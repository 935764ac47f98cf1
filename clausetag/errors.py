"""The one exception type that the command line turns into a clean message."""


class ClausetagError(Exception):
    """A problem with the user's input or set-up, worded for the user.

    The CLI prints it as ``clausetag: error: <message>`` and exits with status 2,
    so anything raised as this must already say what went wrong and what to do.
    """
