"""What the parsers accept of a file, told without opening it: its size and first bytes.

Apart from parsers.office so that the service can check a file (mail_ingest.convert,
parsers.bundle) without loading python-docx, openpyxl and lxml, which only the sandbox's
workers need.
"""

MAX_FILE_BYTES = 20 * 1024 * 1024
OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")  # an old binary .doc/.xls (and encrypted OOXML)
