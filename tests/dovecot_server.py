"""A real, throwaway Dovecot IMAP server for tests, and the pytest fixtures around it.

Mocks of IMAP would only repeat our own assumptions about INTERNALDATE, UIDs and flags;
Dovecot is what many boards run, so the live tests talk to it. Everything lives in one
temporary directory (config, sockets, state, log, Maildirs); nothing needs root, and
when the tests do run as root the mail is owned by an unprivileged user, because
Dovecot refuses uid 0 for mail.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

DOVECOT = Path("/usr/sbin/dovecot")
REQUIRE_ENV = "MAIL_INGEST_REQUIRE_DOVECOT"

_CONFIG = """\
# Written by tests/dovecot_server.py for one test session.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = mail-ingest-test-{port}
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
auth_failure_delay = 0
auth_verbose = yes
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {first_uid}
first_valid_gid = {first_gid}
mail_location = maildir:{root}/mail/%u
mail_fsync = never

{oauth2_passdb}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd.d/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: tests fail logins on purpose and must not wait seconds after.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def free_port() -> int:
    """A TCP port nobody listens on right now (good enough for a test server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mail_owner() -> tuple[int, int]:
    """The uid/gid that owns the Maildirs: ourselves, or 'nobody' when running as root."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def _service_users() -> tuple[str, str, str]:
    """(internal user, internal group, login user) for Dovecot's own processes.

    As root these are the packaged 'dovecot' and 'dovenull' accounts; as anyone else
    Dovecot cannot switch users, so every process runs as the current user.
    """
    if os.getuid() == 0:
        for name in ("dovecot", "dovenull"):
            try:
                pwd.getpwnam(name)
            except KeyError:
                raise RuntimeError(
                    f"running as root, Dovecot needs the system user {name!r} "
                    "(created by the dovecot-core package)"
                ) from None
        return "dovecot", grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name, "dovenull"
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
    except KeyError:
        raise RuntimeError(
            "Dovecot needs the current uid and gid to have names in /etc/passwd and /etc/group"
        ) from None
    return user, group, user


class DovecotServer:
    """Dovecot in the foreground (`dovecot -F`) on 127.0.0.1, configured in a tmp dir.

    With `tls_cert` and `tls_key` it also serves IMAPS on `ssl_port` and offers
    STARTTLS on `port`; without them `ssl = no`. Dovecot reports INTERNALDATE in its
    own time zone (a Maildir keeps only the instant), so it runs in `tz`, by default
    Vietnam's, like a board's server would.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        tz: str = "Asia/Ho_Chi_Minh",
        oauth2_introspection: str | None = None,
    ) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="mail-ingest-dovecot-"))
        self._own_root = root is None
        self.host = "127.0.0.1"
        self.port = free_port()
        self.ssl_port = free_port() if tls_cert else 0
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.tz = tz
        self.oauth2_introspection = oauth2_introspection  # URL that validates XOAUTH2 tokens
        self.config = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.uid, self.gid = _mail_owner()
        self._users: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Write the config, start Dovecot and wait until it accepts connections."""
        internal_user, internal_group, login_user = _service_users()
        # Dovecot's unprivileged processes (auth as 'dovecot', mail as 'nobody') must
        # reach the passwd file and the Maildirs inside our private tmp dir.
        os.chmod(self.root, 0o755)
        for sub in ("run", "state", "mail", "home", "passwd.d"):
            (self.root / sub).mkdir(exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, self.uid, self.gid)
        for name, password in self._users.items():
            self._write_passwd(name, password)
        ssl_files = ""
        if self.tls_cert and self.tls_key:
            ssl_files = f"ssl_cert = <{self.tls_cert}\nssl_key = <{self.tls_key}"
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                ssl_port=self.ssl_port,
                ssl="yes" if ssl_files else "no",
                ssl_files=ssl_files,
                **self._oauth2(),
                internal_user=internal_user,
                internal_group=internal_group,
                login_user=login_user,
                uid=self.uid,
                gid=self.gid,
                first_uid=min(self.uid, 500),
                first_gid=min(self.gid, 1),
            ),
            encoding="utf-8",
        )
        self._process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(self.config)],
            env={**os.environ, "TZ": self.tz},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group: stop() ends every child too
        )
        deadline = time.monotonic() + timeout
        while not self._accepts(self.port) or (self.ssl_port and not self._accepts(self.ssl_port)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self._process.stdout.read().decode() if self._process.stdout else ""
                self.stop()
                raise RuntimeError(
                    f"Dovecot did not start on {self.host}:{self.port}:\n{output}\n{self._log()}"
                )
            time.sleep(0.05)

    def _oauth2(self) -> dict[str, str]:
        """XOAUTH2 and OAUTHBEARER, tokens checked by POSTing them to the introspection URL."""
        if not self.oauth2_introspection:
            return {"oauth2_mechanisms": "", "oauth2_passdb": ""}
        settings = self.root / "oauth2.conf.ext"
        settings.write_text(
            f"introspection_mode = post\nintrospection_url = {self.oauth2_introspection}\n"
            "force_introspection = yes\nusername_attribute = username\n"
            "active_attribute = active\nactive_value = true\n",
            encoding="utf-8",
        )
        settings.chmod(0o644)
        passdb = (
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {settings}\n}}"
        )
        return {"oauth2_mechanisms": " xoauth2 oauthbearer", "oauth2_passdb": passdb}

    def stop(self) -> None:
        """Stop Dovecot (SIGTERM to the master stops its children) and remove the tmp dir."""
        process, self._process = self._process, None
        if process is not None:
            # The master leaves running imap processes behind; a stopped server must
            # drop its clients, as a crashed or rebooted one does.
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if process is not None and process.stdout:
            process.stdout.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop Dovecot, keeping its dir, and start it again on the same ports and users.

        Its clients see the server go away, as after a reboot or an upgrade.
        """
        own_root, self._own_root = self._own_root, False
        try:
            self.stop()
        finally:
            self._own_root = own_root
        self.start(timeout)

    def add_user(self, name: str, password: str) -> None:
        """Add a user, or change their password; usable at once.

        One passwd file per user (`passwd.d/%u`): Dovecot checks a passwd file for
        changes at most once a second, so a shared file would hide a user added in
        the same second as the last login. A changed password waits that second out.
        """
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name):
            raise ValueError(f"unsupported test user name: {name!r}")
        if ":" in password or "\n" in password:
            raise ValueError("a test password cannot contain ':' or a newline")
        changed = self._users.get(name, password) != password
        self._users[name] = password
        if self.root.joinpath("passwd.d").is_dir():
            self._write_passwd(name, password)
            if changed:
                time.sleep(1.1)

    def append(
        self,
        user: str,
        password: str,
        folder: str,
        raw: bytes,
        internaldate: datetime,
        flags: Sequence[str | bytes] = (),
    ) -> int:
        """APPEND a message with this INTERNALDATE, creating the folder; returns its UID."""
        with IMAPClient(self.host, self.port, ssl=False, timeout=10) as client:
            client.login(user, password)
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags), msg_time=internaldate)
        match = re.search(rb"APPENDUID \d+ (\d+)", response)
        if match is None:
            raise RuntimeError(f"no APPENDUID in Dovecot's answer: {response!r}")
        return int(match.group(1))

    def maildir_path(self, user: str) -> Path:
        """The user's Maildir (INBOX); other folders are `.Name` subdirectories of it."""
        return self.root / "mail" / user

    def _write_passwd(self, name: str, password: str) -> None:
        tmp = self.root / "passwd.d" / f".{name}.tmp"
        tmp.write_text(f"{name}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.root / "passwd.d" / name)  # atomic: never read half-written

    def _accepts(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.2):
                return True
        except OSError:
            return False

    def _log(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return "(no Dovecot log)"


def require_dovecot() -> None:
    """Skip when Dovecot is not installed, unless CI demands it (then fail loudly)."""
    if DOVECOT.exists():
        return
    message = f"{DOVECOT} not found: install the Debian package dovecot-imapd"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A started Dovecot shared by the whole session; each test gets its own user."""
    require_dovecot()
    server = DovecotServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


_accounts = itertools.count(1)


@dataclass
class ImapAccount:
    """A fresh mailbox on the test Dovecot: what a deployment's config needs to reach it."""

    host: str
    port: int
    username: str
    password: str
    server: DovecotServer = field(repr=False)

    def append(self, raw: bytes, internaldate: datetime, folder: str = "INBOX") -> int:
        """Deliver a message as if the server received it at `internaldate`; its UID."""
        return self.server.append(self.username, self.password, folder, raw, internaldate)

    def fill(self, raws: Sequence[bytes], internaldate: datetime, folder: str = "INBOX") -> None:
        """Deliver many messages at once (MULTIAPPEND, 500 per command)."""
        with IMAPClient(self.host, self.port, ssl=False, timeout=60) as client:
            client.login(self.username, self.password)
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for start in range(0, len(raws), 500):
                chunk = raws[start : start + 500]
                client.multiappend(folder, [{"msg": raw, "date": internaldate} for raw in chunk])


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A new user with an empty INBOX, so tests never see each other's mail."""
    username = f"user{next(_accounts)}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    dovecot.add_user(username, password)
    return ImapAccount(dovecot.host, dovecot.port, username, password, dovecot)
