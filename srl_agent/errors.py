"""Errors that reach the user as one line and exit code 2 (bad input, bad config), never as a traceback."""


class UserError(Exception):
    """Something the user can fix; the message says what and how."""
