"""The private Postfix instance (tests/postfix.py) that make bench measures as an anchor and
that bounce tests use as a real MTA: it runs from its own directory, accepts on its own port,
and leaves nothing running or on disk."""

from __future__ import annotations

import os
import smtplib

import pytest

from tests.ports import free_port
from tests.postfix import PostfixUnavailable, private_postfix
from tests.system import command, missing


@pytest.fixture
def postfix_or_skip() -> None:
    command("postfix", package="postfix")
    if os.geteuid() != 0:
        missing("root (Postfix's master starts as root)", "run make test as root")


@pytest.mark.usefixtures("postfix_or_skip")
def test_it_accepts_mail_on_its_own_port_and_logs_it_in_its_own_directory() -> None:
    port = free_port()
    with private_postfix(port) as instance:
        assert instance.postconf("-h", "config_directory").strip() == str(instance.config)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            code, banner = client.ehlo("client.test")
            assert code == 250
            assert banner.startswith(b"postfix.test")
            refused = client.sendmail("a@example.com", ["b@example.net"], b"Subject: hi\r\n\r\nbody\r\n")
        assert refused == {}
        assert instance.wait_accepted(1) == 1
        assert str(instance.root) in instance.maillog.read_text()
        pid = instance.master_pid()
        assert pid is not None
        assert os.readlink(f"/proc/{pid}/exe").endswith("/master")
    assert not os.path.exists(f"/proc/{pid}")
    assert not instance.root.exists()


@pytest.mark.usefixtures("postfix_or_skip")
def test_it_refuses_to_relay_for_a_client_outside_mynetworks() -> None:
    port = free_port()
    with private_postfix(port, main={"mynetworks": "192.0.2.0/24"}) as instance:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("client.test")
            client.mail("a@example.com")
            code, text = client.rcpt("b@example.net")
        assert code == 554
        assert text == b"5.7.1 <b@example.net>: Recipient address rejected: Access denied"
        assert instance.accepted() == 0


def test_it_says_why_it_cannot_start_when_postfix_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PostfixUnavailable, match="not installed"), private_postfix(free_port()):
        pass
