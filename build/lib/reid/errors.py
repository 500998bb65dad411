"""Exceptions raised by the package; each message names the file, key or value at fault."""


class ReIDError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(ReIDError, ValueError):
    """A configuration key or value is unknown or invalid."""


class DatasetError(ReIDError, ValueError):
    """A dataset file is missing, malformed or inconsistent with the official layout."""
