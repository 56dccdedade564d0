"""A private Postfix instance for tests and ``make bench``: its own ``config_directory``,
``queue_directory``, ``data_directory`` and log file under a temporary directory, ``smtpd`` on
a loopback port of its own. The system's instance (``/etc/postfix``, port 25) is never read,
started or touched; Debian's ``postfix`` package only provides the programs.

Postfix's ``master`` must start as root (it drops to ``mail_owner`` for every daemon), so the
callers skip when not root. Services are not chrooted: a chroot would need copies of
``/etc/resolv.conf`` and friends inside the queue directory.

What happens to accepted mail is the caller's choice of ``transport``: ``discard`` (accept and
throw away, so only acceptance is measured) or any transport with its settings in ``main``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: the daemons a small instance needs; smtpd is added with its own listen address
_SERVICES = """\
pickup    unix  n  -  n  60     1  pickup
cleanup   unix  n  -  n  -      0  cleanup
qmgr      unix  n  -  n  300    1  qmgr
rewrite   unix  -  -  n  -      -  trivial-rewrite
bounce    unix  -  -  n  -      0  bounce
defer     unix  -  -  n  -      0  bounce
trace     unix  -  -  n  -      0  bounce
verify    unix  -  -  n  -      1  verify
flush     unix  n  -  n  1000?  0  flush
proxymap  unix  -  -  n  -      -  proxymap
showq     unix  n  -  n  -      -  showq
error     unix  -  -  n  -      -  error
retry     unix  -  -  n  -      -  error
discard   unix  -  -  n  -      -  discard
smtp      unix  -  -  n  -      -  smtp
virtual   unix  -  n  n  -      -  virtual
tlsmgr    unix  -  -  n  1000?  1  tlsmgr
anvil     unix  -  -  n  -      1  anvil
scache    unix  -  -  n  -      1  scache
postlog   unix-dgram n - n  -   1  postlogd
"""
START_DEADLINE = 30.0
_ACCEPTED = re.compile(rb"postfix/cleanup\[\d+\]: [0-9A-F]+: message-id=")


class PostfixUnavailable(RuntimeError):
    """Postfix is not installed, or this process may not start it (not root)."""


@dataclass(frozen=True)
class PostfixInstance:
    root: Path
    port: int

    @property
    def config(self) -> Path:
        return self.root / "conf"

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    def accepted(self) -> int:
        """Messages whose queue file cleanup wrote (one ``message-id=`` line each)."""
        try:
            return len(_ACCEPTED.findall(self.maillog.read_bytes()))
        except FileNotFoundError:
            return 0

    def wait_accepted(self, count: int, timeout: float = 30.0) -> int:
        """Wait (bounded) until the log shows ``count`` accepted messages; postlogd writes
        the lines a moment after the SMTP replies. Returns the count seen."""
        deadline = time.monotonic() + timeout
        seen = self.accepted()
        while seen < count and time.monotonic() < deadline:
            time.sleep(0.05)
            seen = self.accepted()
        return seen

    def master_pid(self) -> int | None:
        """The running master's pid from its pid file, or None when it is not running."""
        try:
            pid = int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    def postconf(self, *args: str) -> str:
        done = subprocess.run(
            ["postconf", "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return done.stdout


def _main_cf(root: Path, transport: str, main: Mapping[str, str]) -> str:
    settings = {
        "compatibility_level": "3.6",
        "queue_directory": str(root / "queue"),
        "data_directory": str(root / "data"),
        "command_directory": "/usr/sbin",
        "daemon_directory": "/usr/lib/postfix/sbin",
        "meta_directory": "/etc/postfix",
        "shlib_directory": "/usr/lib/postfix",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "myhostname": "postfix.test",
        "mydomain": "test",
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "smtpd_relay_restrictions": "permit_mynetworks, reject",
        "relay_domains": "",
        "default_transport": transport,
        "relay_transport": transport,
        "local_transport": transport,
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "",
        "maillog_file": str(root / "maillog"),
        "maillog_file_prefixes": str(root),
        "smtpd_banner": "$myhostname ESMTP",
        "biff": "no",
        **main,
    }
    return "".join(f"{key} = {value}\n" for key, value in settings.items())


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def private_postfix(
    port: int, *, transport: str = "discard:", main: Mapping[str, str] | None = None
) -> Iterator[PostfixInstance]:
    """Start a private instance with ``smtpd`` on 127.0.0.1:``port``; stop it and remove its
    directory when the block ends. Raises :class:`PostfixUnavailable` when it can't run here."""
    if shutil.which("postfix") is None:
        raise PostfixUnavailable("postfix is not installed (apt-get install postfix)")
    if os.geteuid() != 0:
        raise PostfixUnavailable("Postfix's master must start as root")
    root = Path(tempfile.mkdtemp(prefix="pw-postfix-"))
    root.chmod(0o755)  # the daemons run as postfix and must reach the queue and the log
    instance = PostfixInstance(root, port)
    try:
        instance.config.mkdir()
        (root / "queue").mkdir()
        (root / "data").mkdir()
        shutil.chown(root / "data", "postfix", "postfix")
        (instance.config / "main.cf").write_text(_main_cf(root, transport, main or {}))
        smtpd = f"127.0.0.1:{port} inet n - n - - smtpd\n"
        (instance.config / "master.cf").write_text(smtpd + _SERVICES)
        _postfix(instance, "start")
        deadline = time.monotonic() + START_DEADLINE
        while not _listening(port):
            if time.monotonic() > deadline:
                raise PostfixUnavailable(f"Postfix did not listen on {port}: {_tail(instance)}")
            time.sleep(0.05)
        yield instance
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _postfix(instance, "stop")
        _wait_stopped(instance)
        shutil.rmtree(root, ignore_errors=True)


def _postfix(instance: PostfixInstance, verb: str) -> None:
    done = subprocess.run(
        ["postfix", "-c", str(instance.config), verb], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise PostfixUnavailable(f"postfix {verb} failed: {done.stderr.strip()} {_tail(instance)}")


def _wait_stopped(instance: PostfixInstance) -> None:
    """``postfix stop`` returns before master has exited; wait (bounded) for it to go, so no
    daemon outlives the block."""
    pid = instance.master_pid()
    deadline = time.monotonic() + 30
    while pid is not None and instance.master_pid() == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    if instance.master_pid() == pid and pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def _tail(instance: PostfixInstance) -> str:
    try:
        return instance.maillog.read_text(errors="replace")[-1500:]
    except OSError:
        return "(no log)"
