"""An IMAP folder as a read-only message source.

The board's mailbox belongs to people who read it too, so this source never changes
it: the folder is selected read-only (EXAMINE) and bodies are fetched with
BODY.PEEK[], so no \\Seen flag is set and nothing is moved, deleted or expunged.
A message's position is (folder, UIDVALIDITY, UID); its receipt time is the
INTERNALDATE with the server's offset kept, because deadlines are judged by when the
board's server received the mail, not by the sender's Date header.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal, get_args

from imapclient import IMAPClient
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from mail_ingest.errors import AuthError, ConfigError, TransientError
from mail_ingest.mailbox import Checkpoint, FetchedMessage

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]


class ImapSource:
    """One folder of an IMAP account; connects on first use, one connection per source."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        username: str,
        password: str,
        folder: str = "INBOX",
        *,
        ca_file: Path | None = None,
        timeout: float = 30.0,
        batch_size: int = 50,
    ) -> None:
        if security not in get_args(Security):
            raise ConfigError(
                f"mailbox.security: {security!r} is not one of 'ssl', 'starttls', 'none'"
            )
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self._password = password  # kept private and out of repr/logs
        self.folder = folder
        self.ca_file = ca_file
        self.timeout = timeout
        self.batch_size = batch_size
        self.source = f"imap:{username}@{host}:{port}/{folder}"
        self._client: IMAPClient | None = None

    def __repr__(self) -> str:
        return f"ImapSource({self.source!r}, security={self.security!r})"

    def fetch_new(self, checkpoint: Checkpoint) -> Iterator[FetchedMessage]:
        """Yield messages above the checkpoint's last UID, oldest first, one at a time.

        A generator, so the caller records each message before the next is fetched and
        an interrupted poll loses nothing: the next one starts after the last recorded.
        """
        client = self._connect()
        uidvalidity = self._select(client)
        last = checkpoint.last_uid(self.source, uidvalidity)
        with self._network("search"):
            found = client.search(["UID", f"{last + 1}:*"])
        # `n:*` always matches the newest message, even when its UID is below n.
        uids = sorted(uid for uid in found if uid > last)
        for start in range(0, len(uids), self.batch_size):
            batch = [
                uid
                for uid in uids[start : start + self.batch_size]
                if not checkpoint.is_known(self.source, uidvalidity, str(uid))
            ]
            if not batch:
                continue
            with self._network("fetch"):
                items = client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in batch:
                item = items.get(uid)
                if item is None or b"BODY[]" not in item:
                    continue  # expunged by another client since SEARCH
                raw: bytes = item[b"BODY[]"]
                log.info("fetched %s uid %s (%d bytes)", self.source, uid, len(raw))
                yield FetchedMessage(
                    source=self.source,
                    uidvalidity=uidvalidity,
                    uid=str(uid),
                    received_at=item[b"INTERNALDATE"],
                    raw=raw,
                )

    def close(self) -> None:
        """Log out; a connection the server or network already dropped is fine."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            _shutdown(client)

    def _connect(self) -> IMAPClient:
        """The open connection, reusing a live one and replacing a dead one."""
        if self._client is not None:
            try:
                self._client.noop()
                return self._client
            except (IMAPClientError, OSError):
                self._drop()
        context = self._ssl_context()
        with self._network("connect"):
            client = IMAPClient(
                self.host,
                self.port,
                ssl=self.security == "ssl",
                ssl_context=context,
                timeout=self.timeout,
            )
        client.normalise_times = False  # keep INTERNALDATE's offset: deadlines need it
        self._client = client
        if self.security == "starttls":
            try:
                client.starttls(context)
            except CapabilityError:
                self._drop()
                raise ConfigError(
                    f"mailbox.security: {self.host}:{self.port} does not offer STARTTLS; "
                    "use security = 'ssl' (usually port 993)"
                ) from None
            except Exception as exc:
                self._drop()
                raise self._transient("STARTTLS", exc) from exc
        try:
            client.login(self.username, self._password)
        except LoginError as exc:
            self._drop()
            raise AuthError(
                f"IMAP {self.host}:{self.port} refused the login for {self.username!r} "
                f"({_text(exc)}). Check mailbox.username and the password in "
                "mailbox.password_env. For Gmail, enable 2-Step Verification on the "
                "account and use an app password, not the account password."
            ) from None  # the chained imaplib frames would carry the password
        except Exception as exc:
            self._drop()
            if isinstance(exc, IMAPClientError | OSError):
                raise self._transient("login", exc) from exc
            raise
        return client

    def _ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context: the board's mail is not worth a man in the middle."""
        if self.security == "none":
            return None
        try:
            return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"mailbox.ca_file: cannot read CA certificates from {str(self.ca_file)!r}: {exc}"
            ) from exc

    def _select(self, client: IMAPClient) -> int:
        """Select the folder read-only and return its UIDVALIDITY."""
        try:
            info = client.select_folder(self.folder, readonly=True)
        except IMAPClientAbortError as exc:
            self._drop()
            raise self._transient("select", exc) from exc
        except IMAPClientError as exc:
            with self._network("list folders"):
                exists = client.folder_exists(self.folder)
                folders = [] if exists else [f[2] for f in client.list_folders()]
            if exists:
                self._drop()
                raise self._transient("select", exc) from exc
            shown = ", ".join(repr(str(name)) for name in folders[:15])
            raise ConfigError(
                f"mailbox.folder: {self.folder!r} does not exist in {self.username}'s "
                f"mailbox on {self.host}; folders there: {shown or 'none'}"
            ) from None
        except OSError as exc:
            self._drop()
            raise self._transient("select", exc) from exc
        uidvalidity = info.get(b"UIDVALIDITY")
        if not isinstance(uidvalidity, int):
            self._drop()
            raise TransientError(
                f"IMAP {self.host}:{self.port}: no UIDVALIDITY for folder {self.folder!r}"
            )
        return uidvalidity

    @contextmanager
    def _network(self, action: str) -> Iterator[None]:
        """Turn network and protocol failures into TransientError and drop the connection."""
        try:
            yield
        except (IMAPClientError, OSError) as exc:
            self._drop()
            raise self._transient(action, exc) from exc

    def _transient(self, action: str, exc: BaseException) -> TransientError:
        where = f"IMAP {self.host}:{self.port}"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return TransientError(
                f"{where}: TLS certificate not trusted ({exc.verify_message}); if the server "
                "uses a private CA, set mailbox.ca_file to its certificate"
            )
        if isinstance(exc, TimeoutError):
            return TransientError(f"{where}: {action} timed out after {self.timeout:g} s")
        if isinstance(exc, ConnectionRefusedError):
            return TransientError(f"{where}: connection refused; is the server up?")
        kind = type(exc).__name__
        return TransientError(f"{where}: {action} failed ({kind}: {_text(exc)}); will retry")

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _shutdown(client)


def _shutdown(client: IMAPClient) -> None:
    with suppress(IMAPClientError, OSError):
        client.shutdown()


def _text(exc: BaseException) -> str:
    """An exception's message as text (imaplib errors often carry bytes)."""
    arg = exc.args[0] if len(exc.args) == 1 else exc
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    return str(arg) or type(exc).__name__
