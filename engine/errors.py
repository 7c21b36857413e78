"""Problems the user can fix, in one place: each becomes one sentence on stderr and exit code 2.

Every kind is a UserError, so the commands catch one type; the kinds let callers tell them apart.
"""


class UserError(Exception):
    """Bad input from the user: a missing file, a wrong shape, a mismatch. The message is shown as is."""


class CacheError(UserError):
    """A cache file or folder is missing, unreadable, of another schema version, or inconsistent."""


class WriteFailed(UserError, OSError):
    """The file system refused a write (full disk, read-only, permissions). Still an OSError, so callers
    that tolerate unwritable folders keep doing so."""


class FolderBusy(UserError):
    """Another command is writing into the output folder."""


class PeerFailed(UserError):
    """Under torchrun, another rank failed; it (and rank 0) report why, the other ranks stop quietly."""


def brief(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none), at most `limit` long."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]
