"""Pure functions for units, deadlines, validation and status.

No I/O and no clock: "now" is always passed in, so any past day can be replayed.
"""
