"""deconfliction: a neutral deconfliction line for air operators who share airspace."""

__version__ = "0.1.0"
