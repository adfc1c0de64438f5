"""Tables (and, elsewhere in this package, figures and the regression check) built from result files only.

Nothing here computes a metric: everything is read from ``results.json`` (and ``per_clip.csv``) files written
by the runner. Numbers of published methods live in :mod:`leaderboard.reported` and are shown apart.
"""

from leaderboard.table import render_markdown

__all__ = ["render_markdown"]
