"""Pure functions for units, deadlines, validation and status. No I/O, no clock: "now" is passed in."""
