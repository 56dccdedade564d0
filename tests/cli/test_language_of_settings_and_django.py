"""The command line's language reaches the words it prints that are not the doctor's: a
setting it cannot use (``serve``, ``worker``, ``doctor``), Django's words (a canary's
status, the first admin's line, a system check's message and hint). One choice, from
``LANG`` (then POSTWARDEN_LANGUAGE), for the core and Django; the setting's name, its value
and the check's ID stay as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import translation

from postwarden.core import i18n
from tests.cli.test_doctor_language import base_environ, postwarden

PERSIAN = "fa_IR.UTF-8"


def persian(message: str) -> str:
    with i18n.override("fa"):
        said = i18n.gettext(message)
    assert said != message, f"no Persian for {message!r}"
    return said


@pytest.mark.parametrize("command", ["serve", "worker", "doctor"])
def test_a_setting_that_cannot_be_used_is_refused_in_the_readers_language(
    command: str, tmp_path: Path
) -> None:
    bad = {"SMTP_PORT": "abc", "EMAIL_PROVIDER": "sendgird"}
    done = postwarden([command], base_environ(tmp_path, PERSIAN, **bad), tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    said = done.stderr
    assert said.startswith(f"postwarden {command}: {persian('Postwarden cannot use these settings:')}"), said
    # the variable and its value as written, the rest in Persian (digits too)
    assert "SMTP_PORT='abc' باید عددی صحیح از ۱ تا ۶۵۵۳۵ باشد" in said, said
    assert f"SMTP_PORT ({persian('environment')})" in said, said
    assert "EMAIL_PROVIDER='sendgird' باید یکی از smtp, ses, sendgrid" in said, said
    assert "'sendgrid'" in said
    english = postwarden([command], base_environ(tmp_path, "C.UTF-8", **bad), tmp_path).stderr
    assert "SMTP_PORT='abc' must be a whole number from 1 to 65535" in english, english
    assert "did you mean 'sendgrid'?" in english


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An install made in Persian, with one disabled canary; and what ``migrate`` printed."""
    root = tmp_path_factory.mktemp("install")
    made = postwarden(["migrate"], base_environ(root, PERSIAN), root)
    assert made.returncode == 0, made.stderr
    create = (
        "from postwarden.canaries.models import Canary; "
        "Canary.objects.create(name='home', address='canary@example.com', imap_host='imap.example.com', "
        "imap_port=993, imap_user='canary', imap_password='', key='k1', enabled=False)"
    )
    shell = postwarden(["manage", "shell", "-c", create], base_environ(root, "C.UTF-8"), root)
    assert shell.returncode == 0, shell.stderr
    return root, made.stdout


def test_migrate_says_the_first_admin_line_in_the_readers_language(install: tuple[Path, str]) -> None:
    _, printed = install
    with translation.override("fa"):
        words = translation.gettext(
            "Created the first admin: %(email)s with password %(password)s "
            "(shown once; change it in the console)"
        )
    start = words.split("%(email)s")[0]
    assert start != "Created the first admin: "
    assert f"{start}admin@localhost" in printed, printed


def test_canary_list_says_djangos_words_in_the_readers_language(install: tuple[Path, str]) -> None:
    root, _ = install
    with translation.override("fa"):
        disabled = translation.gettext("disabled: no run starts")
    assert disabled != "disabled: no run starts"
    listed = postwarden(["canary", "list"], base_environ(root, PERSIAN), root)
    assert listed.returncode == 0, listed.stderr
    assert "home  canary@example.com  disabled: " + disabled in listed.stdout, listed.stdout
    english = postwarden(["canary", "list"], base_environ(root, "C.UTF-8"), root).stdout
    assert "disabled: disabled: no run starts" in english, english


def test_manage_check_says_postwardens_checks_in_the_readers_language(install: tuple[Path, str]) -> None:
    root, _ = install
    checked = postwarden(["manage", "check"], base_environ(root, PERSIAN), root)
    assert checked.returncode == 0, checked.stderr
    said = checked.stdout + checked.stderr
    # the ID and the finding code stay; the title, the hint and the doctor's pointer are Persian
    assert re.search(r"\(postwarden\.W001\) config\.missing: [\u0600-\u06ff]", said), said
    assert persian("Run `postwarden doctor` to check the whole delivery path.") in said, said
    english = postwarden(["manage", "check"], base_environ(root, "C.UTF-8"), root)
    assert "Run `postwarden doctor` to check the whole delivery path." in english.stdout + english.stderr


def test_doctor_json_with_setting_notes_and_link_findings_is_the_same_english_in_every_language(
    tmp_path: Path,
) -> None:
    """What machines read stays English byte for byte: the resolver's notes and the links
    stage's findings are translatable sentences now, and --json still says them in English."""
    settings = {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "587",
        "SMTP_SECURITY": "tls",
        "MAIL_FROM": "ops@example.com",
        "APP_URL": "http://10.0.0.5:8000",
    }
    argv = ["doctor", "--json", "--only", "config,links"]
    reports = []
    for language in ("C.UTF-8", PERSIAN, "en_XA.UTF-8"):
        done = postwarden(argv, base_environ(tmp_path, language, **settings), tmp_path)
        assert done.stderr == "", done.stderr
        reports.append(re.sub(r'"duration_ms": \d+', '"duration_ms": 0', done.stdout))
    assert reports[0] == reports[1] == reports[2]
    assert "SMTP_SECURITY=tls on port 587 was read as starttls (STARTTLS, required)" in reports[0]
    assert "names 10.0.0.5, which recipients cannot reach" in reports[0]


def test_apikey_list_and_createadmin_speak_the_readers_language(install: tuple[Path, str]) -> None:
    root, _ = install
    made = postwarden(
        ["apikey", "create", "--name", "billing", "--scope", "send"], base_environ(root, "C.UTF-8"), root
    )
    assert made.returncode == 0, made.stderr
    listed = postwarden(["apikey", "list"], base_environ(root, PERSIAN), root).stdout
    head, row = listed.splitlines()[:2]
    assert head.split()[:3] == [persian("ID"), persian("PREFIX"), persian("NAME")], listed
    assert row.split()[-1] == persian("active"), listed
    assert re.search(r"[۰-۹]{4}-[۰-۹]{2}-[۰-۹]{2} [۰-۹]{2}:[۰-۹]{2}", row), row  # the date in Persian digits
    refused = postwarden(
        ["createadmin", "--email", "not an address", "--password-stdin"], base_environ(root, PERSIAN), root
    )
    with translation.override("fa"):
        invalid = translation.gettext("Enter a valid email address.")
    assert invalid != "Enter a valid email address."
    assert (refused.returncode, refused.stderr) == (2, f"postwarden createadmin: --email: {invalid}\n")


def test_monitor_list_writes_its_figures_in_the_readers_digits(install: tuple[Path, str]) -> None:
    root, _ = install
    listed = postwarden(["monitor", "--list"], base_environ(root, PERSIAN), root).stdout
    every = persian("every {seconds} s").format(seconds="۶۰")
    assert f"alerts.evaluate  {every}  " in listed, listed
    english = postwarden(["monitor", "--list"], base_environ(root, "C.UTF-8"), root).stdout
    assert "alerts.evaluate  every 60 s  " in english, english
