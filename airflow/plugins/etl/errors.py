"""Errors caused by what the user gave us (a missing file, an empty CSV, missing columns): commands report
them as one clear line; bugs stay ordinary exceptions with tracebacks."""


class InputError(ValueError):
    """The input cannot be processed at all (as opposed to bad rows, which are quarantined)."""
