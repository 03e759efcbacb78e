"""The one error type for user mistakes (bad config, bad data).

Entry points catch it, print ``error: <message>`` on one line and exit with code 2. Anything else is a
bug and keeps its traceback.
"""


class AttentuneError(Exception):
    """A user-facing error: bad input data or an invalid configuration value."""


class ConfigError(AttentuneError, ValueError):
    """An invalid configuration value (caught before any data is read)."""


class DataError(AttentuneError):
    """Input data that cannot be used (missing file/column, empty split, unseen label, ...)."""
