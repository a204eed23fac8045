"""The base of every error a user can cause and fix; the CLI prints these without a traceback."""


class UserError(Exception):
    """An expected mistake (bad input, missing resource): the message says what and how to fix."""


class ArchiveError(UserError):
    """An archive member, folder entry or key that breaks a rule of `smlocal.core.archives`;
    the message names it."""
