"""One exception type for problems the user can fix; the CLI turns it into one sentence and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, a wrong shape, a mismatch. The message is shown as is."""
