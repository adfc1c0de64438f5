"""ExoEgo benchmark: datasets, the Generator interface, the runner, metrics and the CLI.

Heavy model code is imported lazily by the registry; importing this package stays cheap.
"""

__version__ = "0.1.0"
