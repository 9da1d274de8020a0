"""mail-ingest: collect the forms units email to a district board and track who is late."""

__version__ = "0.1.0"
