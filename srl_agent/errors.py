"""Errors that reach the user as one line and exit code 2 (bad input, bad config), never as a traceback."""


from pathlib import Path


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


def output_dir(path: str | Path, flag: str = "--output") -> Path:
    """A run directory given by the user: it may exist (a resume), but not as a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: is a file; pass a directory (new, or a run to resume)")
    return path
