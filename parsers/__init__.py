"""Turn the bytes of an attached file into a structured form. Pure: no disk, no network."""
