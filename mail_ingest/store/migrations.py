"""The store's schema: named migrations, applied in order and never edited once shipped.

A board's database lives for years; a change of schema is a new entry at the end of
this list (Store applies each one once, inside the write lock, and records its name).
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001-initial",
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,      -- of the raw bytes; the archive's file name
            size INTEGER NOT NULL,
            message_id TEXT,                  -- the Message-ID header, as sent
            sender TEXT,                      -- the From header, decoded
            subject TEXT,
            received_at TEXT NOT NULL,        -- server receipt time, ISO 8601 with its offset
            received_utc TEXT NOT NULL,       -- the same instant in UTC, for ordering
            unit_id TEXT,                     -- the unit it was attributed to, if any
            outcome TEXT NOT NULL,            -- see pipeline.OUTCOMES
            error TEXT,                       -- what went wrong, for outcome 'error'
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX messages_unit ON messages (unit_id, received_utc);
        CREATE INDEX messages_message_id ON messages (message_id);
        CREATE TABLE locations (              -- where a message sits in a mailbox
            source TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid TEXT NOT NULL,
            message INTEGER NOT NULL REFERENCES messages (id),
            PRIMARY KEY (source, uidvalidity, uid)
        );
        CREATE TABLE mailbox_state (          -- highest IMAP UID fully recorded
            source TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL,
            PRIMARY KEY (source, uidvalidity)
        );
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            message INTEGER NOT NULL REFERENCES messages (id),
            position INTEGER NOT NULL,
            filename TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            form TEXT,                        -- recognised form id, or NULL
            fields TEXT NOT NULL,             -- JSON object
            problems TEXT NOT NULL            -- JSON list of {code, message}
        );
        CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            attachment INTEGER NOT NULL REFERENCES attachments (id),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            kind TEXT,
            field TEXT,
            level TEXT,
            extra TEXT NOT NULL               -- JSON object
        );
        CREATE TABLE outbox (                 -- every outgoing mail, keyed so it is sent once
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,         -- e.g. ack:<message-id>, report:<date>
            recipients TEXT NOT NULL,         -- JSON list
            subject TEXT NOT NULL,
            raw BLOB NOT NULL,
            status TEXT NOT NULL,             -- pending | sent | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE TABLE polls (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            fetched INTEGER NOT NULL DEFAULT 0,
            recorded INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            failure TEXT                      -- why the poll as a whole failed, if it did
        );
        """,
    ),
    (
        "0002-imap-header-first",
        """
        -- 1 when only the headers were downloaded (not a candidate, too large, or a copy)
        ALTER TABLE messages ADD COLUMN headers_only INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN gm_msgid INTEGER;  -- Gmail's id, the same in every label
        CREATE INDEX messages_gm_msgid ON messages (gm_msgid);
        -- 1 while the after-processing action (keyword, copy, move) is still to be done
        ALTER TABLE locations ADD COLUMN action_pending INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX locations_pending ON locations (source, uidvalidity) WHERE action_pending;
        ALTER TABLE polls ADD COLUMN downloaded INTEGER NOT NULL DEFAULT 0;  -- bytes
        """,
    ),
    (
        "0003-outbox-retries",
        """
        -- status: pending | sending | sent | failed | unknown (interrupted mid-send)
        ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;  -- UTC; NULL: as soon as possible
        CREATE INDEX outbox_status ON outbox (status, next_attempt_at);
        """,
    ),
    (
        "0004-attribution-review-corrections",
        """
        -- how unit_id was found: address, learned-address, subject, form, filename, body,
        -- or assigned (by a person, see audit); NULL for messages recorded before this
        ALTER TABLE messages ADD COLUMN evidence TEXT;
        ALTER TABLE messages ADD COLUMN confidence REAL;  -- 0..100
        ALTER TABLE messages ADD COLUMN guesses TEXT;     -- JSON [{unit, score, evidence}]
        CREATE INDEX messages_outcome ON messages (outcome);
        CREATE TABLE learned_addresses (      -- taught by `assign --remember`
            address TEXT PRIMARY KEY,         -- rules.units.address_key
            unit_id TEXT NOT NULL,
            learned_at TEXT NOT NULL,
            by TEXT NOT NULL,
            message INTEGER REFERENCES messages (id)
        );
        CREATE TABLE manual_submissions (     -- a paper or Zalo submission, `mark`
            id INTEGER PRIMARY KEY,
            unit_id TEXT NOT NULL,
            requirement TEXT NOT NULL,
            forms TEXT NOT NULL,              -- JSON list of form ids
            via TEXT NOT NULL,                -- paper | zalo | other
            received_at TEXT NOT NULL,        -- as given, ISO 8601 with its offset
            received_utc TEXT NOT NULL,
            note TEXT NOT NULL,
            by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            removed_at TEXT                   -- `unmark`: kept, no longer counted
        );
        CREATE TABLE audit (                  -- every manual change, never updated
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,                 -- UTC
            by TEXT NOT NULL,                 -- the OS user, or --by
            action TEXT NOT NULL,             -- assign | learn-address | mark | unmark
            unit_id TEXT,
            subject TEXT NOT NULL,            -- message:<id>, manual:<id>, or the address
            note TEXT NOT NULL
        );
        """,
    ),
    (
        "0005-failing-addresses",
        """
        CREATE TABLE failing_addresses (      -- a delivery report said mail to it failed
            address TEXT PRIMARY KEY,         -- lowercased
            since TEXT NOT NULL,              -- UTC, the first failure
            message INTEGER REFERENCES messages (id),  -- the delivery report
            cleared_at TEXT                   -- the board checked it: mail may go again
        );
        """,
    ),
    (
        "0006-untrusted-input",
        """
        -- The From header's single addr-spec as parsed at ingestion (NULL when the From
        -- holds none or several): attribution and replies use it, never the decoded text.
        ALTER TABLE messages ADD COLUMN sender_address TEXT;
        -- sha256 of the raw header block: with the size, what recognises a copy before
        -- download (a Message-ID alone is chosen by the sender).
        ALTER TABLE messages ADD COLUMN header_sha256 TEXT;
        -- Why a message is held for a person although a unit was found (a failed DMARC,
        -- a look-alike name), in Vietnamese for the board.
        ALTER TABLE messages ADD COLUMN review_reason TEXT;
        -- A delivery report: the Message-IDs it says it is about (JSON list).
        ALTER TABLE messages ADD COLUMN reported_ids TEXT;
        CREATE INDEX messages_header ON messages (header_sha256, size);
        -- The Message-ID of each mail we sent: a delivery report counts only if it names one.
        ALTER TABLE outbox ADD COLUMN message_id TEXT;
        CREATE INDEX outbox_message_id ON outbox (message_id);
        -- A position being processed: written before, removed with the record. One left
        -- behind means the process died on that message (an OOM kill is no exception).
        CREATE TABLE processing (
            source TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            started_at TEXT NOT NULL,         -- UTC, the latest attempt
            PRIMARY KEY (source, uidvalidity, uid)
        );
        """,
    ),
    (
        "0007-doubt-and-lessons",
        """
        -- How sure the parser was (0..1) and what it inferred (JSON list, Vietnamese).
        ALTER TABLE attachments ADD COLUMN confidence REAL;
        ALTER TABLE attachments ADD COLUMN inferred TEXT;
        ALTER TABLE attachments ADD COLUMN taught TEXT;   -- JSON list of lesson ids used
        -- A file the board checked: its reading accepted as it is (audit has who and why).
        ALTER TABLE attachments ADD COLUMN checked_at TEXT;
        CREATE TABLE lessons (                -- what the board taught the parsers
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,               -- header | value
            text TEXT NOT NULL,               -- as units write it
            meaning TEXT NOT NULL,            -- a column key, or a vocabulary id
            vocabulary TEXT,                  -- for a value: kind | field | level
            form TEXT,                        -- NULL: every form
            by TEXT NOT NULL,
            at TEXT NOT NULL,                 -- UTC
            removed_at TEXT
        );
        """,
    ),
    (
        "0008-doubt-unknown",
        """
        -- Headers and values the parser met and did not know (JSON list, as written).
        ALTER TABLE attachments ADD COLUMN unknown TEXT;
        """,
    ),
    (
        "0009-users",
        """
        CREATE TABLE users (                  -- who may open the web page (`mail-ingest user`)
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,               -- leader (reads) | staff (acts) | admin (+ users)
            password_hash TEXT NOT NULL,      -- argon2id, with its own salt and parameters
            created_at TEXT NOT NULL,         -- UTC
            disabled INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE login_attempts (         -- failed logins, for throttling
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,               -- as typed, lowercased
            address TEXT NOT NULL,            -- the client's address
            at TEXT NOT NULL                  -- UTC
        );
        CREATE INDEX login_attempts_name ON login_attempts (name, at);
        CREATE INDEX login_attempts_address ON login_attempts (address, at);
        """,
    ),
    (
        "0010-doubt-attributes",
        """
        -- What a doubt stands behind (JSON list of entry attributes, "*" for the rows):
        -- only the rules counting these wait for the board (rules.validation.judge).
        ALTER TABLE attachments ADD COLUMN doubted TEXT;
        """,
    ),
    (
        "0011-indexes",
        """
        -- What status, remind and report read, in the order they read it (EXPLAIN QUERY
        -- PLAN in tests/test_query_plans.py): no table scan and no sort at 500 units.
        CREATE INDEX attachments_message ON attachments (message, position);
        CREATE INDEX entries_attachment ON entries (attachment, position);
        CREATE INDEX messages_outcome_time ON messages (outcome, received_utc, id);
        CREATE INDEX messages_time ON messages (received_utc, id);
        CREATE INDEX messages_evidence ON messages (evidence);
        """,
    ),
)
