"""Errors that are the user's to fix, as opposed to bugs of ours.

The command line turns a :class:`UsageError` into one line on stderr and exit status 2 (no traceback): an
unknown method, a bad ``--method-arg``, a missing dataset folder, a run folder made with other settings.
Every other exception is a bug or an environment failure and keeps its traceback (exit status 1), so that a
mistake of ours is never hidden behind a tidy message.

``UsageError`` derives from ``ValueError`` so that code which already catches ``ValueError`` keeps working.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A mistake in what the user asked for; the message names the argument, file or clip and what was expected."""
