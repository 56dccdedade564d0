"""A real IMAP server for tests: Dovecot (Debian ``dovecot-imapd``) run per test from a
generated configuration in a temporary directory, on loopback ports of its own.

The system's instance (``/etc/dovecot``, port 143) is never read, started or touched; the
package only provides the programs. Dovecot runs unprivileged: started by a normal user it
runs every process as that user; started by root (the CI machine) it is started as
``nobody``, so no test ever holds a mail store as root. Login processes are not chrooted
(a chroot needs root).

Each user has a Maildir with ``INBOX``, ``Sent`` and a folder carrying the SPECIAL-USE
``\\Junk`` flag (RFC 6154), by default named ``Junk``; ``folders=`` changes the set, so a
test can have a junk folder under another name (``{"Spam": ""}``: no flag, found by name)
or none at all. ``tls=True`` adds an implicit-TLS listener and STARTTLS on the plain one,
served with a trustme certificate.

Use the ``dovecot`` fixture (or ``dovecot_factory`` for options)::

    def test_it_finds_the_canary(dovecot):
        dovecot.deliver(raw_message)                 # into INBOX
        dovecot.deliver(raw_message, folder="Junk")
        ... dovecot.host, dovecot.port, dovecot.user, dovecot.password ...

Messages are put in with IMAP ``APPEND`` as the user (with stdlib ``imaplib``, not the code
under test), so Dovecot owns its files and indexes as it would after a real delivery.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.ports import free_port
from tests.processes import stop_group
from tests.system import command, missing

START_DEADLINE = 30.0
DEFAULT_FOLDERS: Mapping[str, str] = {"Junk": "\\Junk", "Sent": "\\Sent"}


class DovecotUnavailable(RuntimeError):
    """Dovecot did not start; the message holds the end of its log."""


@dataclass
class DovecotOptions:
    user: str = "canary@example.test"
    password: str = "imap-test-password-1"
    #: more accounts, address → password
    more_users: Mapping[str, str] = field(default_factory=dict)
    #: folder name → SPECIAL-USE flag ("" for none); INBOX always exists
    folders: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FOLDERS))
    tls: bool = False
    cert: trustme.LeafCert | None = None


@dataclass
class DovecotServer:
    root: Path
    options: DovecotOptions
    host: str = "127.0.0.1"
    port: int = 0
    tls_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def user(self) -> str:
        return self.options.user

    @property
    def password(self) -> str:
        return self.options.password

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- what a test does to the mailbox, through a plain imaplib session --------------

    @contextlib.contextmanager
    def session(self, user: str | None = None) -> Iterator[imaplib.IMAP4]:
        """A logged-in stdlib ``imaplib`` session on the plain port."""
        client = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            name = user or self.user
            client.login(name, self._password_of(name))
            yield client
        finally:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                client.logout()

    def deliver(
        self, message: bytes, *, folder: str = "INBOX", user: str | None = None, when: float | None = None
    ) -> None:
        """Put ``message`` into ``folder`` as a delivery would: unseen, its INTERNALDATE
        ``when`` (Unix time; default now), as a server with that clock would stamp it."""
        stamp = imaplib.Time2Internaldate(time.time() if when is None else when)
        with self.session(user) as client:
            kind, data = client.append(_quote(folder), "", stamp, message)
            if kind != "OK":
                raise AssertionError(f"APPEND to {folder} failed: {data!r}")

    def messages(self, folder: str = "INBOX", user: str | None = None) -> list[bytes]:
        """Every message in ``folder`` that is not flagged \\Deleted, in order, whole."""
        with self.session(user) as client:
            client.select(_quote(folder), readonly=True)
            _kind, data = client.search(None, "NOT DELETED")
            found: list[bytes] = []
            for number in data[0].split():
                _kind, parts = client.fetch(number, "(BODY.PEEK[])")
                first = parts[0]
                assert isinstance(first, tuple)
                found.append(first[1])
            return found

    def flags(self, folder: str = "INBOX", user: str | None = None) -> list[str]:
        """The flags of each message in ``folder``, in order (``FETCH FLAGS`` lines)."""
        with self.session(user) as client:
            client.select(_quote(folder), readonly=True)
            _kind, data = client.fetch("1:*", "(FLAGS)") if _count(client) else ("OK", [])
            return [line.decode() if isinstance(line, bytes) else str(line) for line in data]

    def _password_of(self, user: str) -> str:
        if user == self.user:
            return self.password
        return self.options.more_users[user]

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> DovecotServer:
        if not Path("/usr/lib/dovecot/imap").exists():
            missing("dovecot's imap service", "apt-get install dovecot-imapd")
        self.port = free_port()
        self.tls_port = free_port() if self.options.tls else 0
        self._write_files()
        self._run()
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, grace=10)
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same ports, keeping the mail (a server restart)."""
        self.stop()
        self._run()

    def _run(self) -> None:
        binary = command("dovecot", package="dovecot-imapd", search=("/usr/sbin/dovecot",))
        # -F: stay in the foreground, so the process is ours to stop and nothing is left
        # behind as a daemon when a test fails.
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_drop_to(self._run_as()),
        )
        self._wait_listening()

    def _run_as(self) -> pwd.struct_passwd:
        if os.geteuid() == 0:
            return pwd.getpwnam("nobody")
        return pwd.getpwuid(os.geteuid())

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while not _listening(self.host, self.port):
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise DovecotUnavailable(f"dovecot did not listen on {self.port}: {self.log_text()[-2000:]}")
            time.sleep(0.05)

    def _write_files(self) -> None:
        account = self._run_as()
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        lines = [f"{self.user}:{{PLAIN}}{self.password}::::::"]
        lines += [f"{name}:{{PLAIN}}{secret}::::::" for name, secret in self.options.more_users.items()]
        (self.root / "passwd").write_text("\n".join(lines) + "\n")
        if self.options.tls:
            cert = self.options.cert
            assert cert is not None, "tls=True needs a cert"
            cert.cert_chain_pems[0].write_to_path(str(self.root / "cert.pem"))
            for pem in cert.cert_chain_pems[1:]:
                pem.write_to_path(str(self.root / "cert.pem"), append=True)
            cert.private_key_pem.write_to_path(str(self.root / "key.pem"))
        (self.root / "dovecot.conf").write_text(_config(self, account))
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _count(client: imaplib.IMAP4) -> int:
    _kind, data = client.search(None, "ALL")
    return len(data[0].split())


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _drop_to(account: pwd.struct_passwd) -> Callable[[], None]:
    def drop() -> None:
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)

    return drop


def _config(server: DovecotServer, account: pwd.struct_passwd) -> str:
    root, options = server.root, server.options
    group = account.pw_gid
    mailboxes = "".join(_mailbox(name, flag) for name, flag in options.folders.items())
    ssl_lines, tls_listener = "ssl = no\n", ""
    if options.tls:
        ssl_lines = f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem\n"
        tls_listener = (
            f"  inet_listener imaps {{\n    address = {server.host}\n    port = {server.tls_port}\n"
            "    ssl = yes\n  }\n"
        )
    return f"""\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = {server.host}
default_internal_user = {account.pw_name}
default_internal_group = {_group_name(group)}
default_login_user = {account.pw_name}
first_valid_uid = {account.pw_uid}
last_valid_uid = {account.pw_uid}
first_valid_gid = {group}
mail_location = maildir:{root}/mail/%u
disable_plaintext_auth = no
auth_mechanisms = plain login
{ssl_lines}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={account.pw_uid} gid={group} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {server.host}
    port = {server.port}
  }}
{tls_listener}}}
service auth {{
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"""


def _mailbox(name: str, flag: str) -> str:
    special = f"    special_use = {flag}\n" if flag else ""
    return f'  mailbox "{name}" {{\n    auto = subscribe\n{special}  }}\n'


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name


@pytest.fixture
def dovecot_factory(server_cert: trustme.LeafCert) -> Iterator[Callable[..., DovecotServer]]:
    """``dovecot_factory(**DovecotOptions fields) -> DovecotServer``, started; all stopped
    and removed at teardown. ``cert`` defaults to ``server_cert`` when ``tls=True``."""
    servers: list[DovecotServer] = []

    def start(**options: Any) -> DovecotServer:
        if options.get("tls"):
            options.setdefault("cert", server_cert)
        root = Path(tempfile.mkdtemp(prefix="pw-dovecot-"))
        server = DovecotServer(root, DovecotOptions(**options))
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_factory: Callable[..., DovecotServer]) -> DovecotServer:
    """A plain-IMAP Dovecot with one user and INBOX, Junk (\\Junk) and Sent (\\Sent)."""
    return dovecot_factory()
