"""Errors, grouped by what the caller should do about them."""


class MailIngestError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MailIngestError):
    """The configuration is wrong: stop and tell the operator (CLI exit code 2)."""


class TransientError(MailIngestError):
    """A server or network failed: nothing is lost, retry on the next cycle."""


class AuthError(MailIngestError):
    """The server refused our credentials: stop and tell the operator, retrying will not help."""


class TrustError(MailIngestError):
    """The server's TLS certificate is not trusted: retrying cannot heal it, tell the operator."""


class MessageError(MailIngestError):
    """One message or file is bad: record the error against it and go on with the others."""


class StorageError(MailIngestError):
    """The store or the archive cannot be written (disk full, read-only): nothing was half
    recorded; the next cycle with room carries on."""


class LockedError(MailIngestError):
    """Another mail-ingest process holds the store: wait for it or try again later."""


class CorrectionError(MailIngestError):
    """A correction by hand cannot be made as asked (no such message): nothing changed, say why."""
