"""explain_text end to end, the terminal rendering, and ``postwarden explain``."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from postwarden.cli.explain import run
from postwarden.core.replies.explain import explain_text, guess_host, guess_port, guess_stage, render
from postwarden.core.smtp.stages import SmtpStage

ISSUE_EXAMPLE = "554 5.7.1 <unknown[1.2.3.4]>: Client host rejected: Access denied"


def test_it_explains_the_issue_example() -> None:
    got = explain_text(ISSUE_EXAMPLE)
    assert (got.code, got.severity, got.permanent) == ("envelope.relay_denied", "error", True)
    assert got.evidence == ISSUE_EXAMPLE
    assert got.steps[1].startswith("If the server relays by IP address (Postfix mynetworks")


@pytest.mark.parametrize(
    ("context", "stage"),
    [
        ("Connection unsuccessful: Failed to add to email address - ", SmtpStage.RCPT),
        ("Failed to set the to address: ", SmtpStage.RCPT),
        ("failed to set the from address: ", SmtpStage.MAIL),
        ("SMTP error from remote mail server after MAIL FROM:<a@b> SIZE=1234: ", SmtpStage.MAIL),
        ("javax.mail.AuthenticationFailedException: ", SmtpStage.AUTH),
        ("SendMail: Failed to close connection to SMTP server, ", SmtpStage.DATA),
        ("smtplib.SMTPDataError: ", SmtpStage.DATA),
        ("unable to send hello message: ", SmtpStage.EHLO),
        ("dial tcp 10.0.0.1:587: ", SmtpStage.CONNECT),
        ("No matching clause: ", None),
    ],
)
def test_it_guesses_the_stage_from_the_words_around_the_reply(context: str, stage: SmtpStage | None) -> None:
    assert guess_stage(context) == stage


def test_it_takes_the_stage_it_is_given_over_its_guess() -> None:
    guessed = explain_text("Failed to add to email address - 550 Requested action not taken")
    given = explain_text("Failed to add to email address - 550 Requested action not taken", stage="MAIL FROM")
    assert (guessed.code, given.code) == ("envelope.recipient_rejected", "envelope.sender_rejected")


def test_it_reads_host_and_port_from_the_text() -> None:
    text = "Could not connect to SMTP host: smtp.office365.com, port: 587; nested exception is: x"
    assert (guess_host(text), guess_port(text)) == ("smtp.office365.com", 587)
    assert guess_port("dial tcp [::1]:10025: connect: connection refused") == 10025
    assert guess_port("at 12:30 the server") is None


def test_it_renders_code_severity_evidence_and_numbered_steps() -> None:
    text = render(explain_text(ISSUE_EXAMPLE), color=False)
    lines = text.splitlines()
    assert lines[0] == "envelope.relay_denied  error · permanent"
    assert lines[1] == "The server will not relay mail for this client"
    assert "Server said:" in lines
    assert f"  {ISSUE_EXAMPLE}" in lines
    assert "What it means:" in lines
    assert "What to do:" in lines
    assert any(line.startswith("  1. Authenticate: set SMTP_USER and SMTP_PASSWORD") for line in lines)
    assert any(line.startswith("  3. ") for line in lines)
    assert lines[-1] == "rule: client_host.rejected"
    assert "\x1b[" not in text


def test_it_renders_provider_advice_and_colour_on_request() -> None:
    text = render(explain_text("535-5.7.8 Username and Password not accepted."), color=True)
    assert text.startswith("\x1b[1;31mauth.failed  error · permanent\x1b[0m")
    assert "\x1b[1mGmail / Google Workspace:\x1b[0m" in text


def test_it_labels_a_failure_without_a_reply_as_an_error() -> None:
    text = render(explain_text("TimeoutError: timed out", stage="connect", port=25), color=False)
    assert "Error:\n  TimeoutError: timed out\n" in text
    assert "Server said:" not in text


def test_it_renders_the_wait_the_server_asks_for() -> None:
    text = render(explain_text("451 4.7.1 Greylisted, please try again in 5 minutes"), color=False)
    assert "The server asks to wait 300 seconds before retrying." in text.splitlines()


def test_the_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([ISSUE_EXAMPLE, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["code"] == "envelope.relay_denied"
    assert out["reply"] == {
        "code": 554,
        "enhanced": "5.7.1",
        "text": "<unknown[1.2.3.4]>: Client host rejected: Access denied",
    }
    assert set(out) == {
        "code", "stage", "severity", "permanent", "title", "explanation", "steps", "provider", "advice",
        "rule_id", "retry_after", "reply", "evidence",
    }  # fmt: skip


def test_the_cli_takes_the_stage_and_words_split_by_the_shell(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["550", "Requested", "action", "not", "taken", "--stage", "rcpt", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["code"] == "envelope.recipient_rejected"


def test_the_cli_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("535-5.7.8 Username and Password not accepted.\n"))
    assert run(["--no-color"]) == 0
    assert capsys.readouterr().out.startswith("auth.failed  error · permanent\n")


def test_the_cli_refuses_empty_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run([]) == 2
    assert "give the reply text" in capsys.readouterr().err


def test_the_cli_answers_help_and_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    assert "postwarden explain" in capsys.readouterr().out
    assert run(["x", "--port", "not-a-number"]) == 2


def test_the_cli_runs_without_django() -> None:
    code = (
        "import sys; sys.modules['django'] = None\n"
        "from postwarden.cli.explain import run\n"
        f"raise SystemExit(run([{ISSUE_EXAMPLE!r}, '--json']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["code"] == "envelope.relay_denied"
