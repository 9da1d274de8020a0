"""IMAP folders as a message source a board can trust with its only mailbox.

The mailbox belongs to people who read it too, so by default nothing in it changes:
folders are selected read-only (EXAMINE) and bodies fetched with BODY.PEEK[], so no
\\Seen flag is set, and nothing is ever deleted or expunged. A configured action
(a keyword, a copy or a move) is applied only to recorded submissions.

A board's Gmail box holds years of unrelated mail and Gmail caps IMAP downloads, so
each message is first looked at through its header, size and BODYSTRUCTURE; only
candidates are downloaded whole. A position is (folder, UIDVALIDITY, UID); the
receipt time is the INTERNALDATE with the server's offset kept, because deadlines are
judged by when the board's server received the mail, not by the sender's Date header.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from datetime import time as midnight
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import (
    IMAPClientAbortError,
    IMAPClientError,
)

from mail_ingest import backoff, mime
from mail_ingest.config import MailboxConfig
from mail_ingest.errors import (
    ConfigError,
    MailIngestError,
    TransientError,
)
from mail_ingest.imap_client import (
    ClientFactory,
    login,
    shutdown,
    ssl_context,
    starttls,
    tls_client,
    transient,
)
from mail_ingest.imap_preview import PREVIEW_ITEMS, has_attachment
from mail_ingest.mailbox import Checkpoint, FetchedMessage, Partial, Preview

log = logging.getLogger(__name__)

# True: download it whole; False, or the reason, keep its header only.
Wanted = Callable[[Preview], bool | Partial]
MAX_BACKOFF = 300.0  # seconds between reconnections at most, however many retries


class ImapSource:
    """The configured folders of one IMAP account, over one connection at a time.

    Each connection's client comes from `client_factory` (mail_ingest.imap_client):
    imapclient by default, a fake in tests of what only a misbehaving server does.
    """

    def __init__(
        self,
        box: MailboxConfig,
        *,
        wanted: Wanted | None = None,
        timezone: tzinfo | None = None,
        preview_batch: int = 200,
        body_batch_bytes: int = 8 * 1024 * 1024,
        retries: int = 4,
        backoff: float = 1.0,
        rng: random.Random | None = None,
        client_factory: ClientFactory = tls_client,
    ) -> None:
        if preview_batch < 1 or body_batch_bytes < 1:
            raise ValueError("batch sizes must be positive")
        self.box = box
        self.wanted = wanted
        self.preview_batch = preview_batch
        self.body_batch_bytes = body_batch_bytes
        self.retries = retries
        self.backoff = backoff
        self.acts = box.after != "keep" or box.mark_seen
        self.downloaded = 0
        self.planned: int | None = None
        self._rng = rng or random.Random()
        self._client_factory = client_factory
        self._client: IMAPClient | None = None
        self._yielded = 0
        # `since` is a day in the district's zone; SEARCH SINCE compares dates in the
        # server's zone only, so search from a day earlier and filter by the instant.
        self._since = (
            datetime.combine(box.since, midnight(), timezone or datetime.now().astimezone().tzinfo)
            if box.since
            else None
        )

    def __repr__(self) -> str:
        return f"ImapSource({self.box.username}@{self.box.host}:{self.box.port})"

    def source_id(self, folder: str) -> str:
        return f"imap:{self.box.username}@{self.box.host}:{self.box.port}/{folder}"

    def fetch_new(self, checkpoint: Checkpoint) -> Iterator[FetchedMessage]:
        """Yield every message not yet recorded, oldest first per folder, one at a time.

        A generator: the caller records each message before asking for the next, so
        when the connection drops, reconnecting (with backoff) and asking the
        checkpoint again resumes exactly after the last recorded message.
        """
        for attempt in range(self.retries + 1):
            try:
                yield from self._fetch_all(checkpoint)
                return
            except TransientError as exc:
                if attempt == self.retries:
                    raise
                delay = backoff.delay(attempt, base=self.backoff, cap=MAX_BACKOFF, rng=self._rng)
                log.warning(
                    "%s; reconnecting in %.1f s (attempt %d of %d)",
                    exc, delay, attempt + 1, self.retries,
                )  # fmt: skip
                time.sleep(delay)

    def connect(self) -> IMAPClient:
        """A new logged-in connection from the factory (the IDLE watcher keeps its own)."""
        context = ssl_context(self.box)
        with self._network("connect", drop=False):
            client = self._client_factory(self.box, context)
        client.normalise_times = False  # keep INTERNALDATE's offset: deadlines need it
        try:
            if self.box.security == "starttls":
                starttls(self.box, client, context)
            login(self.box, client)
        except BaseException:
            shutdown(client)
            raise
        return client

    def close(self) -> None:
        """Log out; a connection the server or network already dropped is fine."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            shutdown(client)

    # -- one pass over every folder ---------------------------------------------------

    def _fetch_all(self, checkpoint: Checkpoint) -> Iterator[FetchedMessage]:
        client = self._connection()
        plans = []
        for folder in self.box.folders:
            name = self._resolve(client, folder)
            uidvalidity = self._select(client, name)
            source = self.source_id(name)
            self._act_on_pending(client, checkpoint, source, uidvalidity)
            uids = [
                uid
                for uid in self._search(client, checkpoint.last_uid(source, uidvalidity))
                if not checkpoint.is_known(source, uidvalidity, str(uid))
            ]
            plans.append((name, source, uidvalidity, uids))
        self.planned = self._yielded + sum(len(plan[3]) for plan in plans)
        for name, source, uidvalidity, uids in plans:
            if len(plans) > 1 and self._select(client, name) != uidvalidity:
                raise TransientError(f"IMAP folder {name!r} was renumbered during the poll")
            for start in range(0, len(uids), self.preview_batch):
                batch = uids[start : start + self.preview_batch]
                yield from self._batch(client, checkpoint, source, uidvalidity, batch)
                self._act_on_pending(client, checkpoint, source, uidvalidity)

    def _batch(
        self,
        client: IMAPClient,
        checkpoint: Checkpoint,
        source: str,
        uidvalidity: int,
        uids: list[int],
    ) -> Iterator[FetchedMessage]:
        """Preview a batch, then download the candidates' bodies a few megabytes at a time."""
        fetch = PREVIEW_ITEMS + ([b"X-GM-MSGID"] if client.has_capability("X-GM-EXT-1") else [])
        with self._network("fetch headers"):
            items = client.fetch(uids, fetch)
        plan: list[tuple[int, dict[bytes, Any], Partial | None, mime.Mail | None]] = []
        self._expunged(client, [u for u in uids if b"BODY[HEADER]" not in items.get(u, {})])
        for uid in uids:
            item = items.get(uid)
            if item is None or b"BODY[HEADER]" not in item:
                continue  # expunged by another client since SEARCH
            self.downloaded += len(item[b"BODY[HEADER]"])
            if self._since and item[b"INTERNALDATE"] < self._since:
                continue
            partial, header = self._triage(checkpoint, item)
            plan.append((uid, item, partial, header))
        bodies: dict[int, bytes] = {}
        for i, (uid, item, partial, header) in enumerate(plan):
            fetched = FetchedMessage(
                source=source,
                uidvalidity=uidvalidity,
                uid=str(uid),
                received_at=item[b"INTERNALDATE"],
                raw=item[b"BODY[HEADER]"],
                size=item[b"RFC822.SIZE"],
                partial=partial,
                header=header if partial else None,  # parsed once, here
                gm_msgid=item.get(b"X-GM-MSGID"),
            )
            if partial is None:
                if uid not in bodies:
                    candidates = [(u, it) for u, it, p, _ in plan[i:] if p is None]
                    bodies = self._bodies(client, candidates)
                raw = bodies.pop(uid, None)
                if raw is None:
                    self._expunged(client, [uid])
                    continue  # expunged between the preview and the download
                fetched = replace(fetched, raw=raw, size=len(raw))
            self._yielded += 1
            yield fetched

    def _triage(
        self, checkpoint: Checkpoint, item: dict[bytes, Any]
    ) -> tuple[Partial | None, mime.Mail | None]:
        """Why only the header is needed (None: download it whole), and the parsed header."""
        size: int = item[b"RFC822.SIZE"]
        too_large: Partial | None = "too-large" if size > self.box.max_message_bytes else None
        header = item[b"BODY[HEADER]"]
        preview = Preview(header, size, has_attachment(item.get(b"BODYSTRUCTURE")))
        gm_msgid = item.get(b"X-GM-MSGID")
        # The header's fields are decoded only for a message kept as its header, or when its
        # sender or subject decides: a unit's mail with a file is downloaded on its Message-ID.
        if checkpoint.has_message(preview.message_id, size, gm_msgid, mime.header_digest(header)):
            partial: Partial | None = "copy"
        else:
            verdict = True if self.wanted is None else self.wanted(preview)
            partial = too_large if verdict is True else verdict or "not-candidate"
        if partial is None:
            return None, None
        if preview.mail is None:  # let the full parse record what is wrong
            return too_large, None
        return partial, preview.mail

    def _bodies(self, client: IMAPClient, candidates: list[tuple[int, Any]]) -> dict[int, bytes]:
        """Download the next candidates, as many as fit in one batch of bytes (at least one)."""
        chosen: list[int] = []
        total = 0
        for uid, item in candidates:
            if chosen and total + item[b"RFC822.SIZE"] > self.body_batch_bytes:
                break
            chosen.append(uid)
            total += item[b"RFC822.SIZE"]
        with self._network("fetch"):
            items = client.fetch(chosen, [b"BODY.PEEK[]"])
        bodies = {uid: item[b"BODY[]"] for uid, item in items.items() if b"BODY[]" in item}
        self.downloaded += sum(map(len, bodies.values()))
        return bodies

    def _expunged(self, client: IMAPClient, uids: list[int]) -> None:
        """Check that messages FETCH said nothing about are gone; raise if one is not.

        Passing over a message that is still there would lose it for good: the
        checkpoint moves past its UID once a later one is recorded. A retry on a new
        connection fetches it again (or finds it expunged by then).
        """
        if not uids:
            return
        with self._network("search"):
            found = client.search(["UID", ",".join(map(str, uids))])
        if there := sorted(set(found) & set(uids)):
            self._drop()
            raise TransientError(
                f"IMAP {self.box.host}: FETCH returned nothing for UID {there[0]},"
                " which is still in the folder"
            )

    # -- after processing --------------------------------------------------------------

    def _act_on_pending(
        self, client: IMAPClient, checkpoint: Checkpoint, source: str, uidvalidity: int
    ) -> None:
        """Apply the configured action to recorded submissions; never deletes, never expunges."""
        if not self.acts:
            return
        uids = checkpoint.pending_actions(source, uidvalidity)
        if not uids:
            return
        box = self.box
        with self._network(f"after-processing action {box.after!r}"):
            if box.mark_seen:
                client.add_flags(uids, [b"\\Seen"], silent=True)
            if box.after == "keyword":
                client.add_flags(uids, [box.keyword.encode()], silent=True)
            elif box.after == "copy" or (box.after == "move" and not client.has_capability("MOVE")):
                if box.after == "move":
                    log.warning("server has no MOVE; copying instead (this tool never deletes)")
                client.copy(uids, self._resolve(client, box.after_folder))
            elif box.after == "move":
                client.move(uids, self._resolve(client, box.after_folder))
        checkpoint.actions_done(source, uidvalidity, uids)
        log.info("%s: %s done for %d message(s)", source, box.after, len(uids))

    # -- connection ---------------------------------------------------------------------

    def _connection(self) -> IMAPClient:
        """The open connection, reusing a live one and replacing a dead one."""
        if self._client is not None:
            try:
                self._client.noop()
                return self._client
            except (IMAPClientError, OSError):
                self._drop()
        self._client = self.connect()
        return self._client

    def _resolve(self, client: IMAPClient, folder: str) -> str:
        """A folder name; a special-use flag such as "\\\\All" finds Gmail's localised folder."""
        if not folder.startswith("\\"):
            return folder
        with self._network("list folders"):
            found = client.find_special_folder(folder.encode())
        if found is None:
            raise ConfigError(f"mailbox.folders: {self.box.host} has no folder flagged {folder!r}")
        return str(found)

    def _select(self, client: IMAPClient, folder: str) -> int:
        """Select a folder (read-only unless an action is configured); its UIDVALIDITY."""
        try:
            info = client.select_folder(folder, readonly=not self.acts)
        except IMAPClientAbortError as exc:
            self._drop()
            raise transient(self.box, "select", exc) from exc
        except IMAPClientError as exc:
            with self._network("list folders"):
                exists = client.folder_exists(folder)
                folders = [] if exists else [f[2] for f in client.list_folders()]
            if exists:
                self._drop()
                raise transient(self.box, "select", exc) from exc
            shown = ", ".join(repr(str(name)) for name in folders[:15])
            raise ConfigError(
                f"mailbox.folders: {folder!r} does not exist in {self.box.username}'s "
                f"mailbox on {self.box.host}; folders there: {shown or 'none'}"
            ) from None
        except OSError as exc:
            self._drop()
            raise transient(self.box, "select", exc) from exc
        uidvalidity = info.get(b"UIDVALIDITY")
        if not isinstance(uidvalidity, int):
            self._drop()
            raise TransientError(f"IMAP {self.box.host}: no UIDVALIDITY for folder {folder!r}")
        return uidvalidity

    def _search(self, client: IMAPClient, last: int) -> list[int]:
        """UIDs above `last`, oldest first; SINCE a day early, as it ignores time and zone."""
        criteria: list[Any] = ["UID", f"{last + 1}:*"]
        if self._since:
            criteria += ["SINCE", self._since.date() - timedelta(days=1)]
        with self._network("search"):
            found = client.search(criteria)
        # `n:*` always matches the newest message, even when its UID is below n.
        return sorted(uid for uid in found if uid > last)

    @contextmanager
    def _network(self, action: str, *, drop: bool = True) -> Iterator[None]:
        """Turn network and protocol failures into TransientError and drop the connection."""
        try:
            yield
        except MailIngestError:
            raise
        except (IMAPClientError, OSError) as exc:
            if drop:
                self._drop()
            raise transient(self.box, action, exc) from exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            shutdown(client)
