"""The IMAP client against a real Dovecot on loopback (tests/dovecot.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from postwarden.core.imap import (
    ImapCertificateError,
    ImapCommandRefused,
    ImapConnectError,
    ImapDisconnected,
    ImapEndpoint,
    ImapLoginRefused,
    ImapSecurity,
    ImapStage,
    ImapStartTlsUnavailable,
    ImapTimeout,
    ImapTlsError,
    open_session,
)
from postwarden.core.secrets import Secret
from tests.dovecot import DovecotServer
from tests.smtpd import RawServer, banner

TOKEN_HEADER = "X-Postwarden-Canary"


def _message(token: str, subject: str = "canary", body: str = "hello") -> bytes:
    return (
        f"From: sender@example.test\r\nTo: canary@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{token}@example.test>\r\n{TOKEN_HEADER}: {token}\r\n\r\n{body}\r\n"
    ).encode()


def _endpoint(server: DovecotServer, **changes: object) -> ImapEndpoint:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": ImapSecurity.NONE,
        "user": server.user,
        "password": Secret(server.password),
        "timeout": 10.0,
    }
    values.update(changes)
    return ImapEndpoint(**values)  # type: ignore[arg-type]


def test_it_finds_a_message_by_its_token_header_and_fetches_it(dovecot: DovecotServer) -> None:
    dovecot.deliver(_message("other-token", subject="not this one"))
    dovecot.deliver(_message("tok-1234", body="the canary body"))
    with open_session(_endpoint(dovecot)) as imap:
        assert imap.select("INBOX") == 2
        uids = imap.search_header(TOKEN_HEADER, "tok-1234")
        assert len(uids) == 1
        headers = imap.fetch(uids[0], headers_only=True)
        whole = imap.fetch(uids[0])
        assert imap.search_header(TOKEN_HEADER, "absent-token") == []
    assert headers is not None
    assert whole is not None
    assert b"Subject: canary\r\n" in headers.raw
    assert b"the canary body" not in headers.raw
    assert b"the canary body" in whole.raw
    assert headers.internal_date is not None
    # fetching with PEEK does not mark it read
    assert "\\Seen" not in whole.flags


def test_a_fetch_of_a_gone_uid_is_none(dovecot: DovecotServer) -> None:
    dovecot.deliver(_message("t1"))
    with open_session(_endpoint(dovecot)) as imap:
        imap.select("INBOX")
        assert imap.fetch(999_999) is None


def test_delete_removes_only_the_given_messages(dovecot: DovecotServer) -> None:
    dovecot.deliver(_message("keep-me"))
    dovecot.deliver(_message("remove-me"))
    with open_session(_endpoint(dovecot)) as imap:
        imap.select("INBOX")
        imap.delete(imap.search_header(TOKEN_HEADER, "remove-me"))
    remaining = dovecot.messages("INBOX")
    assert len(remaining) == 1
    assert b"keep-me" in remaining[0]


def test_flags_and_move_for_processed_mail(dovecot: DovecotServer) -> None:
    dovecot.deliver(_message("a"))
    dovecot.deliver(_message("b"))
    with open_session(_endpoint(dovecot)) as imap:
        imap.select("INBOX")
        [uid_a] = imap.search_header(TOKEN_HEADER, "a")
        [uid_b] = imap.search_header(TOKEN_HEADER, "b")
        imap.add_flags([uid_a], "\\Seen", "$Processed")
        assert imap.search("UNKEYWORD", "$Processed") == [uid_b]
        imap.move([uid_b], "Junk")
    assert [b"a" in m for m in dovecot.messages("INBOX")] == [True]
    assert len(dovecot.messages("Junk")) == 1
    assert b": b\r\n" in dovecot.messages("Junk")[0]
    assert "$Processed" in dovecot.flags("INBOX")[0]


def test_it_finds_the_junk_folder_by_its_special_use_flag(
    dovecot_factory: Callable[..., DovecotServer],
) -> None:
    server = dovecot_factory(folders={"Spam": "", "Unwanted": "\\Junk", "Sent": "\\Sent"})
    with open_session(_endpoint(server)) as imap:
        junk = imap.junk_folder()
    assert junk is not None
    assert junk.name == "Unwanted"
    assert junk.special_use == "\\Junk"


def test_without_special_use_it_finds_the_junk_folder_by_name(
    dovecot_factory: Callable[..., DovecotServer],
) -> None:
    server = dovecot_factory(folders={"Archive": "", "Lists/Spam": ""})
    with open_session(_endpoint(server)) as imap:
        junk = imap.junk_folder()
    assert junk is not None
    assert junk.name == "Lists/Spam"


def test_a_mailbox_with_no_junk_folder_says_so(dovecot_factory: Callable[..., DovecotServer]) -> None:
    server = dovecot_factory(folders={"Archive": "", "Sent": "\\Sent"})
    with open_session(_endpoint(server)) as imap:
        assert imap.junk_folder() is None
        assert {folder.name for folder in imap.folders()} == {"INBOX", "Archive", "Sent"}


def test_selecting_a_missing_folder_is_refused_with_the_servers_words(dovecot: DovecotServer) -> None:
    with open_session(_endpoint(dovecot)) as imap, pytest.raises(ImapCommandRefused) as caught:
        imap.select("No Such Folder")
    assert caught.value.stage is ImapStage.SELECT
    assert "Mailbox doesn't exist" in caught.value.detail


def test_a_wrong_password_is_refused_with_the_servers_words_and_never_shown(dovecot: DovecotServer) -> None:
    wrong = "Wrong-Password-9f3a"
    with pytest.raises(ImapLoginRefused) as caught, open_session(_endpoint(dovecot, password=Secret(wrong))):
        pass
    error = caught.value
    assert error.stage is ImapStage.LOGIN
    assert error.detail == "[AUTHENTICATIONFAILED] Authentication failed."
    assert (
        str(error)
        == "login: the IMAP server refused the login: [AUTHENTICATIONFAILED] Authentication failed."
    )
    for text in (str(error), repr(error), repr(error.args), repr(_endpoint(dovecot, password=Secret(wrong)))):
        assert wrong not in text
    assert (error.__cause__ is None and error.__context__ is None) or wrong not in repr(error.__context__)


def test_a_utf8_password_logs_in(dovecot_factory: Callable[..., DovecotServer]) -> None:
    server = dovecot_factory(password="pässwörd-ß-1")
    with open_session(_endpoint(server)) as imap:
        assert imap.select("INBOX") == 0


def test_a_server_that_is_down_is_a_connect_error(closed_port: int) -> None:
    endpoint = ImapEndpoint("127.0.0.1", closed_port, ImapSecurity.NONE, "u", Secret("p"), timeout=5)
    with pytest.raises(ImapConnectError) as caught, open_session(endpoint):
        pass
    assert caught.value.stage is ImapStage.CONNECT
    assert caught.value.detail == "Connection refused"


def test_a_server_that_never_answers_times_out(blackhole_port: int) -> None:
    endpoint = ImapEndpoint("127.0.0.1", blackhole_port, ImapSecurity.NONE, "u", Secret("p"), timeout=0.5)
    with pytest.raises(ImapTimeout) as caught, open_session(endpoint):
        pass
    assert caught.value.stage is ImapStage.CONNECT
    assert isinstance(caught.value, TimeoutError)


def test_a_server_that_is_not_imap_is_named_at_the_greeting(
    raw_smtpd_factory: Callable[..., RawServer],
) -> None:
    server = raw_smtpd_factory(banner("220 mail.example.test ESMTP Postfix"))
    endpoint = ImapEndpoint("127.0.0.1", server.port, ImapSecurity.NONE, "u", Secret("p"), timeout=5)
    with pytest.raises(ImapDisconnected) as caught, open_session(endpoint):
        pass
    assert caught.value.stage is ImapStage.GREETING
    assert "220 mail.example.test ESMTP Postfix" in caught.value.detail


def test_implicit_tls_with_a_trusted_certificate(
    dovecot_factory: Callable[..., DovecotServer], ssl_cert_file: Path
) -> None:
    server = dovecot_factory(tls=True)
    server.deliver(_message("over-tls"))
    with open_session(_endpoint(server, port=server.tls_port, security=ImapSecurity.SSL)) as imap:
        imap.select("INBOX")
        assert len(imap.search_header(TOKEN_HEADER, "over-tls")) == 1


def test_starttls_with_a_trusted_certificate(
    dovecot_factory: Callable[..., DovecotServer], ssl_cert_file: Path
) -> None:
    server = dovecot_factory(tls=True)
    with open_session(_endpoint(server, security=ImapSecurity.STARTTLS)) as imap:
        assert imap.select("INBOX") == 0


def test_an_untrusted_certificate_is_refused(dovecot_factory: Callable[..., DovecotServer]) -> None:
    server = dovecot_factory(tls=True)  # the test CA is not in the trust store here
    with (
        pytest.raises(ImapCertificateError) as caught,
        open_session(_endpoint(server, port=server.tls_port, security=ImapSecurity.SSL)),
    ):
        pass
    assert (caught.value.stage, caught.value.reason) == (ImapStage.CONNECT, "untrusted")
    assert "certificate verify failed" in caught.value.detail


def test_a_certificate_for_another_host_is_refused_at_starttls(
    dovecot_factory: Callable[..., DovecotServer], wrong_host_cert: object, ssl_cert_file: Path
) -> None:
    server = dovecot_factory(tls=True, cert=wrong_host_cert)
    with (
        pytest.raises(ImapCertificateError) as caught,
        open_session(_endpoint(server, security=ImapSecurity.STARTTLS)),
    ):
        pass
    assert (caught.value.stage, caught.value.reason) == (ImapStage.STARTTLS, "hostname_mismatch")


def test_verification_can_be_turned_off(dovecot_factory: Callable[..., DovecotServer]) -> None:
    server = dovecot_factory(tls=True)
    with open_session(
        _endpoint(server, port=server.tls_port, security=ImapSecurity.SSL, verify_tls=False)
    ) as imap:
        assert imap.select("INBOX") == 0


def test_implicit_tls_against_a_plain_port_is_a_tls_error(
    dovecot: DovecotServer, ssl_cert_file: Path
) -> None:
    with pytest.raises(ImapTlsError) as caught, open_session(_endpoint(dovecot, security=ImapSecurity.SSL)):
        pass
    assert caught.value.stage is ImapStage.CONNECT


def test_starttls_that_is_not_offered_is_named(dovecot: DovecotServer) -> None:
    with (
        pytest.raises(ImapStartTlsUnavailable) as caught,
        open_session(_endpoint(dovecot, security=ImapSecurity.STARTTLS)),
    ):
        pass
    assert caught.value.stage is ImapStage.STARTTLS


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"security": "tls"}, "'tls' is not a valid ImapSecurity"),
        ({"host": " "}, "the IMAP host is empty"),
        ({"port": 0}, "the IMAP port 0 is not a TCP port (1-65535)"),
        ({"timeout": 0}, "the IMAP timeout must be positive"),
    ],
)
def test_a_bad_endpoint_is_a_clear_value_error(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "host": "h",
        "port": 143,
        "security": "none",
        "user": "u",
        "password": Secret("p"),
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        ImapEndpoint(**(values | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ['tok" OR ALL "', "tok\\", "tok\r\nA1 LOGOUT", "tök"])
def test_a_searched_value_that_could_change_the_command_is_refused(
    dovecot: DovecotServer, value: str
) -> None:
    with open_session(_endpoint(dovecot)) as imap:
        imap.select("INBOX")
        with pytest.raises(ValueError, match="printable ASCII"):
            imap.search_header(TOKEN_HEADER, value)
        with pytest.raises(ValueError, match="not a header field name"):
            imap.search_header("X-Bad: header", "x")
