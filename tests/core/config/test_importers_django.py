"""A Django settings module's EMAIL_* settings become ours by what Django's SMTP backend
does on the wire. The module is imported for real, from a temporary directory."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from postwarden.core.config.importers import ImporterError, load

PASSWORD = "dj-Pa55-ΩZQX-141421"
_names = itertools.count()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory that is the current directory, as when running manage.py."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def module(project: Path, body: str) -> str:
    """Write a settings module with a name no other test uses; return its dotted name."""
    name = f"pw_test_settings_{next(_names)}"
    (project / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return name


def test_it_imports_a_starttls_server(project: Path) -> None:
    name = module(
        project,
        f"""
        EMAIL_HOST = "smtp.example.com"
        EMAIL_PORT = 587
        EMAIL_HOST_USER = "apikey"
        EMAIL_HOST_PASSWORD = {PASSWORD!r}
        EMAIL_USE_TLS = True
        EMAIL_TIMEOUT = 15
        DEFAULT_FROM_EMAIL = "Reports <reports@example.com>"
        """,
    )
    result = load(f"django:{name}", environ={})
    assert result.values == {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_PORT": "587",
        "SMTP_USER": "apikey",
        "SMTP_PASSWORD": PASSWORD,
        "SMTP_SECURITY": "starttls",
        "SMTP_TIMEOUT": "15",
        "MAIL_FROM": "reports@example.com",
        "MAIL_FROM_NAME": "Reports",
    }
    assert result.origins["SMTP_SECURITY"] == f"{name}.EMAIL_USE_TLS"
    assert result.origins["MAIL_FROM_NAME"] == f"{name}.DEFAULT_FROM_EMAIL"
    assert not any(PASSWORD in note for note in result.notes)


def test_it_reads_email_use_ssl_as_implicit_tls(project: Path) -> None:
    name = module(project, 'EMAIL_HOST = "smtp.example.com"\nEMAIL_PORT = 465\nEMAIL_USE_SSL = True\n')
    result = load(f"django:{name}", environ={})
    assert (result.values["SMTP_SECURITY"], result.origins["SMTP_SECURITY"]) == (
        "ssl",
        f"{name}.EMAIL_USE_SSL",
    )


def test_it_refuses_tls_and_ssl_together_as_django_does(project: Path) -> None:
    name = module(
        project, f"EMAIL_USE_TLS = True\nEMAIL_USE_SSL = True\nEMAIL_HOST_PASSWORD = {PASSWORD!r}\n"
    )
    with pytest.raises(ImporterError) as info:
        load(f"django:{name}", environ={})
    assert str(info.value).startswith(
        f"{name}.EMAIL_USE_TLS and {name}.EMAIL_USE_SSL are both true; Django itself refuses this"
    )
    assert PASSWORD not in str(info.value)


def test_it_applies_djangos_defaults_for_what_the_module_leaves_out(project: Path) -> None:
    name = module(project, "DEBUG = True\n")
    result = load(f"django:{name}", environ={})
    assert result.values == {
        "SMTP_HOST": "localhost",
        "SMTP_PORT": "25",
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "webmaster@localhost",
    }
    assert result.origins["SMTP_HOST"] == f"{name}.EMAIL_HOST (unset: Django's default)"
    assert (
        "neither EMAIL_USE_TLS nor EMAIL_USE_SSL is set: Django talks to the server in plain text"
        in result.notes
    )
    assert any("is Django's webmaster@localhost, which mail servers refuse" in note for note in result.notes)


def test_it_says_when_the_project_does_not_send_over_smtp(project: Path) -> None:
    name = module(project, 'EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"\n')
    result = load(f"django:{name}", environ={})
    assert result.notes[0].startswith(
        f"{name}.EMAIL_BACKEND is 'django.core.mail.backends.console.EmailBackend', not Django's SMTP backend"
    )


def test_it_loads_a_settings_file_by_path(project: Path) -> None:
    path = project / "conf" / "prod.py"
    path.parent.mkdir()
    path.write_text('EMAIL_HOST = "mail.example.org"\n', encoding="utf-8")
    result = load(f"django:{path}", environ={})
    assert (result.values["SMTP_HOST"], result.origins["SMTP_HOST"]) == (
        "mail.example.org",
        "prod.EMAIL_HOST",
    )


def test_it_says_where_it_looked_for_a_missing_module(project: Path) -> None:
    with pytest.raises(ImporterError) as info:
        load("django:no_such_settings_xyz", environ={})
    assert str(info.value) == (
        "cannot import the settings module 'no_such_settings_xyz': No module named 'no_such_settings_xyz' "
        f"(looked in {project} and on sys.path; run from your project's directory or set PYTHONPATH)"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('raise RuntimeError("set DATABASE_URL first")', "RuntimeError: set DATABASE_URL first"),
        ("import sys\nsys.exit(3)", "SystemExit: 3"),
        ("x = 1 +", "SyntaxError: invalid syntax"),
    ],
)
def test_it_reports_a_module_that_fails_to_import(project: Path, body: str, reason: str) -> None:
    name = module(project, body)
    with pytest.raises(ImporterError) as info:
        load(f"django:{name}", environ={})
    assert str(info.value).startswith(f"importing the settings module {name!r} failed: {reason}")


def test_it_names_a_package_the_module_needs_but_is_not_installed(project: Path) -> None:
    name = module(project, "import environ_pkg_not_installed_xyz\n")
    with pytest.raises(ImporterError) as info:
        load(f"django:{name}", environ={})
    assert str(info.value) == (
        f"importing the settings module {name!r} failed: it imports 'environ_pkg_not_installed_xyz', "
        "which is not installed here"
    )


def test_it_rereads_a_module_that_changed_and_restores_sys_path(project: Path) -> None:
    path_before = list(sys.path)
    name = module(project, 'EMAIL_HOST = "first.example.com"\n')
    assert load(f"django:{name}", environ={}).values["SMTP_HOST"] == "first.example.com"
    (project / f"{name}.py").write_text('EMAIL_HOST = "second.example.com"\n', encoding="utf-8")
    assert load(f"django:{name}", environ={}).values["SMTP_HOST"] == "second.example.com"
    assert sys.path == path_before
    assert name not in sys.modules


def test_it_never_imports_django_itself(project: Path) -> None:
    name = module(project, 'EMAIL_HOST = "smtp.example.com"\nEMAIL_USE_SSL = True\n')
    script = (
        "import sys, json; sys.modules['django'] = None\n"
        "from postwarden.core.config.importers import load\n"
        f"print(json.dumps(load('django:{name}', environ={{}}).values))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["SMTP_SECURITY"] == "ssl"
