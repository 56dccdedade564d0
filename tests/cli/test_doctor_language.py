"""``postwarden doctor`` in the reader's language: the report a person reads follows LANG,
the server's words stay as the server said them, ``--json`` stays English byte for byte."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dnsd import DnsTestServer
from tests.smtpd import SmtpServer

PASSWORD = "lang-PaSsWoRd-d1st1nct1ve-17"
Smtpd = Callable[..., SmtpServer]
#: the reply aiosmtpd gives a wrong password (tests/smtpd)
REFUSAL = "535 5.7.8 Authentication credentials invalid"


def postwarden(argv: list[str], environ: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: its own process, its language from the environment."""
    return subprocess.run(
        [sys.executable, "-m", "postwarden", *argv],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def base_environ(tmp_path: Path, language: str, **settings: str) -> dict[str, str]:
    """The test process's environment without any setting or locale of its own."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "POSTWARDEN_", "LC_", "DJANGO_"))
        and k not in ("LANG", "LANGUAGE", "TEST_EMAIL", "DATABASE_URL", "APP_URL")
    }
    return {**keep, "LANG": language, "POSTWARDEN_DATA_DIR": str(tmp_path / "data"), **settings}


def refusing_server(smtpd_factory: Smtpd, dns: DnsTestServer) -> dict[str, str]:
    """Settings for a STARTTLS server that refuses the password with 535."""
    server = smtpd_factory(tls="starttls", users={"ops": "right"})
    return {
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": server.security,
        "SMTP_USER": "ops",
        "SMTP_PASSWORD": PASSWORD,
        "MAIL_FROM": "ops@example.com",
        "TEST_EMAIL": "dest@example.com",
        "POSTWARDEN_DNS_SERVER": dns.address,
        "SMTP_EHLO_NAME": "client.example.com",
    }


@pytest.mark.usefixtures("ssl_cert_file")
def test_the_report_is_persian_and_the_servers_reply_verbatim(
    smtpd_factory: Smtpd, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    settings = refusing_server(smtpd_factory, dns_server)
    done = postwarden(
        ["doctor", "--only", "network,tls,auth,envelope"],
        base_environ(tmp_path, "fa_IR.UTF-8", **settings),
        tmp_path,
    )
    assert (done.returncode, done.stderr) == (1, "")
    lines = done.stdout.splitlines()
    # the headline and the labels are Persian
    assert any(line.startswith("علت اصلی: ") for line in lines), done.stdout
    assert "  خطا: auth.failed" in lines
    assert "  گواه:" in lines
    assert "  گام‌ها:" in lines
    # the server's words, exactly as it said them, on a line of their own (right to left,
    # a terminal would otherwise reorder them among the Persian words around them)
    assert f"    {REFUSAL}" in lines
    # the check lines: the status in Persian, the step's detail below it
    assert any(re.fullmatch(r"  ناموفق\s+auth\.login(\s+[۰-۹٬]+ میلی‌ثانیه)?", line) for line in lines), (
        done.stdout
    )
    assert any(line.strip() == f"به 127.0.0.1:{settings['SMTP_PORT']} وصل شد" for line in lines)
    # the verdict in Persian words and digits
    assert re.search(r"مشکل پیدا شد: ۱ خطا، [۰-۹]+ هشدار \([۰-۹٬]+ میلی‌ثانیه\)\.", done.stdout)
    assert PASSWORD not in done.stdout


@pytest.mark.usefixtures("ssl_cert_file")
def test_json_is_the_same_english_whatever_the_language(
    smtpd_factory: Smtpd, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    settings = refusing_server(smtpd_factory, dns_server)
    argv = ["doctor", "--json", "--only", "network,tls,auth,envelope"]
    reports = []
    for language in ("en_US.UTF-8", "fa_IR.UTF-8", "en_XA.UTF-8"):
        done = postwarden(argv, base_environ(tmp_path, language, **settings), tmp_path)
        assert (done.returncode, done.stderr) == (1, "")
        # the only thing that may differ between two runs: how long each step took
        reports.append(re.sub(r'"duration_ms": \d+', '"duration_ms": 0', done.stdout))
    assert reports[0] == reports[1] == reports[2]
    assert REFUSAL in reports[0]
    assert '"title": "The SMTP server rejected the username or password"' in reports[0]


# -- the pseudo-locale: every word a person reads went through a catalog --------------

#: a segment that starts with an SMTP reply code is the server's own words, to its end
_SERVER_REPLY = re.compile(r"(?<![\w.])[2-5]\d\d[ -][^⟦⟧]*")
#: a token that is data, not a word: codes and check ids (auth.failed), hosts, addresses,
#: paths, settings (SMTP_HOST=…), numbers, TLS suites, technical names in capitals
#: (SMTP, DKIM, the EHLO keywords), command-line options (--dns-server), and the one host
#: name without a dot (the default From address is at localhost)
_DATA = re.compile(r"^(?:.*[.@:/_=<>\d].*|[A-Z][A-Z0-9-]+|-{1,2}[a-z][a-z-]*|localhost)$")
#: the command's own name, as the usage line spells it
_PROGRAM = "postwarden doctor"


def unmarked_english(output: str) -> list[str]:
    """Words outside the pseudo-locale's ⟦…⟧ that are not data, each with its line."""
    rest = output
    while True:  # markers nest (a sentence inside a sentence) and span lines (argparse wraps)
        stripped = re.sub(r"⟦[^⟦⟧]*⟧", " ", rest)
        if stripped == rest:
            break
        rest = stripped
    found = []
    for line in rest.splitlines():
        rest = _SERVER_REPLY.sub(" ", line).replace(_PROGRAM, " ")
        words = [t for t in re.split(r"[\s,;()\[\]|{}\"'`]+", rest) if re.search(r"[A-Za-z]", t)]
        # "usage:" is a word, "example.com:" data: the punctuation that ends a token says nothing
        found += [f"{word!r} in {line!r}" for word in words if not _DATA.match(word.rstrip(":.!?"))]
    return found


def test_the_checker_finds_english_outside_the_markers() -> None:
    assert unmarked_english("  ⟦pass⟧  network.connect  ⟦connected to 127.0.0.1:25⟧") == []
    assert unmarked_english("  ⟦fail⟧  auth.login  535 5.7.8 Authentication credentials invalid") == []
    assert unmarked_english("  ⟦Evidence:⟧ TXT example.com: ⟦no record (⟦x⟧ does not exist)⟧") == []
    assert unmarked_english("  pass  network.connect  connected to 127.0.0.1:25") == [
        "'pass' in '  pass  network.connect  connected to 127.0.0.1:25'",
        "'connected' in '  pass  network.connect  connected to 127.0.0.1:25'",
        "'to' in '  pass  network.connect  connected to 127.0.0.1:25'",
    ]
    assert unmarked_english("⟦a sentence that\nwraps⟧ but this does not") == [
        "'but' in '  but this does not'",
        "'this' in '  but this does not'",
        "'does' in '  but this does not'",
        "'not' in '  but this does not'",
    ]


@pytest.mark.usefixtures("ssl_cert_file")
def test_no_word_of_the_report_escapes_the_catalog_against_a_failing_server(
    smtpd_factory: Smtpd, dns_server: DnsTestServer, tmp_path: Path
) -> None:
    settings = refusing_server(smtpd_factory, dns_server)
    done = postwarden(["doctor"], base_environ(tmp_path, "en_XA.UTF-8", **settings), tmp_path)
    assert (done.returncode, done.stderr) == (1, "")
    assert "⟦Root cause: ⟧" in done.stdout
    assert "auth.login" in done.stdout
    assert REFUSAL in done.stdout
    assert unmarked_english(done.stdout) == []


def test_no_word_of_the_report_escapes_the_catalog_without_settings(tmp_path: Path) -> None:
    done = postwarden(["doctor"], base_environ(tmp_path, "en_XA.UTF-8"), tmp_path)
    assert (done.returncode, done.stderr) == (1, "")
    assert "config.missing" in done.stdout
    assert unmarked_english(done.stdout) == []


def test_no_word_of_the_help_escapes_the_catalog(tmp_path: Path) -> None:
    done = postwarden(["doctor", "--help"], base_environ(tmp_path, "en_XA.UTF-8"), tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert "--dns-server" in done.stdout
    assert unmarked_english(done.stdout) == []
