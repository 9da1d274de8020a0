"""Connections to the board's IMAP server: made by a factory, secured, logged in.

`ImapSource` (and through it the IDLE watcher) gets each client from a `ClientFactory`,
by default `tls_client`: imapclient over a verifying TLS context with the configured
timeouts. Tests pass a small fake client to reach what only a misbehaving server does.
Errors become ours here, saying whether waiting can help, and never carry a secret.
"""

from __future__ import annotations

import ast
import logging
import re
import ssl
from collections.abc import Callable
from contextlib import suppress

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import CapabilityError, IMAPClientError, LoginError

from mail_ingest.config import MailboxConfig
from mail_ingest.errors import AuthError, ConfigError, TransientError, TrustError

# A new, unauthenticated client for the mailbox, over the given TLS context (None: plain).
ClientFactory = Callable[[MailboxConfig, ssl.SSLContext | None], IMAPClient]


def tls_client(box: MailboxConfig, context: ssl.SSLContext | None) -> IMAPClient:
    """imapclient's client, TLS from the start when security = "ssl"."""
    client = IMAPClient(
        box.host,
        box.port,
        ssl=box.security == "ssl",
        ssl_context=context,
        timeout=SocketTimeout(box.connect_timeout, box.read_timeout),
    )
    client._imap.debug = _imaplib_debug()
    return client


# imaplib's debug levels: from 4 it logs each line of the protocol; from 5 also the repr of
# every literal and of every command's whole answer, formatted before the logger is asked
# whether it wants them. imapclient sets 5 and leaves the choice to its logger, so each
# message fetched was written out as text (four fifths of the FETCH's CPU time) to be
# thrown away.
_LINES = 4


def _imaplib_debug() -> int:
    """The protocol's lines when imapclient's imaplib logger is on (-vv), never the
    messages' bytes; nothing otherwise."""
    return _LINES if logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG) else 0


def starttls(box: MailboxConfig, client: IMAPClient, context: ssl.SSLContext | None) -> None:
    try:
        client.starttls(context)
    except CapabilityError:
        raise ConfigError(
            f"mailbox.security: {box.host}:{box.port} does not offer STARTTLS; "
            "use security = 'ssl' (usually port 993)"
        ) from None
    except (IMAPClientError, OSError) as exc:
        raise transient(box, "STARTTLS", exc) from exc


def login(box: MailboxConfig, client: IMAPClient) -> None:
    method, secret = box.credentials()
    try:
        if method == "xoauth2":
            client.oauth2_login(box.username, secret)
        else:
            client.login(box.username, secret)
    except LoginError as exc:
        raise AuthError(_login_advice(box, method, text(exc))) from None
        # (from None: the chained imaplib frames would carry the secret)
    except (IMAPClientError, OSError) as exc:
        raise transient(box, "login", exc) from None


def _login_advice(box: MailboxConfig, method: str, reply: str) -> str:
    where = f"IMAP {box.host}:{box.port} refused the login for {box.username!r} ({reply})."
    if method == "xoauth2":
        return (
            f"{where} The OAuth2 access token is invalid or expired; check the token "
            "helper (mailbox.oauth2_token_command or oauth2_token_env) and that the token "
            "has the mail scope (Gmail: https://mail.google.com/)."
        )
    return (
        f"{where} Check mailbox.username and the password in mailbox.password_env. "
        "For Gmail, enable 2-Step Verification on the account and use an app "
        "password, not the account password."
    )


def ssl_context(box: MailboxConfig) -> ssl.SSLContext | None:
    """A verifying TLS context: the board's mail is not worth a man in the middle."""
    if box.security == "none":
        return None
    ca_file = box.ca_file
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"mailbox.ca_file: cannot read CA certificates from {str(ca_file)!r}: {exc}"
        ) from exc


def transient(box: MailboxConfig, action: str, exc: BaseException) -> TransientError | TrustError:
    """What went wrong, as an error saying whether waiting can help."""
    where = f"IMAP {box.host}:{box.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):  # not retried: it cannot heal
        return TrustError(
            f"{where}: TLS certificate not trusted ({exc.verify_message}); if the server "
            "uses a private CA, set mailbox.ca_file to its certificate"
        )
    if isinstance(exc, TimeoutError):
        return TransientError(f"{where}: {action} timed out")
    if isinstance(exc, ConnectionRefusedError):
        return TransientError(f"{where}: connection refused; is the server up?")
    kind = type(exc).__name__
    return TransientError(f"{where}: {action} failed ({kind}: {text(exc)})")


def shutdown(client: IMAPClient) -> None:
    with suppress(IMAPClientError, OSError):
        client.shutdown()


def text(exc: BaseException) -> str:
    """An exception's message as text (imaplib errors often carry bytes, and imapclient
    passes them on as the text of their repr: "b'[AUTHENTICATIONFAILED] ...'")."""
    arg = exc.args[0] if len(exc.args) == 1 else exc
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    text = str(arg)
    if re.fullmatch(r"b(['\"]).*\1", text, re.DOTALL):
        with suppress(ValueError, SyntaxError):
            value = ast.literal_eval(text)
            if isinstance(value, bytes):
                return value.decode("utf-8", "replace")
    return text or type(exc).__name__
