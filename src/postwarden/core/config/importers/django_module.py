"""A Django settings module's ``EMAIL_*`` settings, read as Django's SMTP backend uses them.

What Django does on the wire (``django.core.mail.backends.smtp``): ``EMAIL_USE_SSL`` is
implicit TLS (``smtplib.SMTP_SSL``), ``EMAIL_USE_TLS`` is a *required* STARTTLS, neither
is plain text (smtplib never upgrades on its own), and both together are refused.
Settings the module leaves out take Django's defaults (``global_settings``), because those
are what Django sends with.

The module is the user's own code, so it is imported the way Django would import it,
with the current directory on ``sys.path``; Django itself is never imported here (the
module may import it). Any failure, ``SystemExit`` included, becomes an
:class:`ImporterError` naming the module and the exception.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Final, TypeAlias

from postwarden.core.config.importers.base import Imported, ImporterError, set_from

#: django/conf/global_settings.py
DEFAULTS: Final[Mapping[str, object]] = {
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "localhost",
    "EMAIL_PORT": 25,
    "EMAIL_HOST_USER": "",
    "EMAIL_HOST_PASSWORD": "",
    "EMAIL_USE_TLS": False,
    "EMAIL_USE_SSL": False,
    "EMAIL_TIMEOUT": None,
    "DEFAULT_FROM_EMAIL": "webmaster@localhost",
    "SERVER_EMAIL": "root@localhost",
}
#: looks a setting up: the module's value, else Django's default; with where it came from
_Getter: TypeAlias = Callable[[str], tuple[object, str]]
_SMTP_BACKEND: Final = "django.core.mail.backends.smtp.EmailBackend"
#: an exception's text is the user's; keep it to one readable line
_MAX_REASON: Final = 300


def load_django_module(module: str) -> Imported:
    """Translate the ``EMAIL_*`` settings of ``module`` (a dotted name, or a path to a
    ``.py`` file). Raises :class:`ImporterError` when it cannot be imported or sets both
    ``EMAIL_USE_TLS`` and ``EMAIL_USE_SSL``."""
    settings = _load(module)
    label = Path(module).stem if module.endswith(".py") else module
    result = Imported()

    def get(name: str) -> tuple[object, str]:
        if hasattr(settings, name):
            return getattr(settings, name), f"{label}.{name}"
        return DEFAULTS[name], f"{label}.{name} (unset: Django's default)"

    _backend(get, result)
    _server(get, result)
    _sender(get, result)
    return result


def _load(module: str) -> ModuleType:
    if not module.strip():
        raise ImporterError("django: give a settings module, e.g. django:mysite.settings")
    with _cwd_on_path(), _forgotten(module):
        try:
            if module.endswith(".py"):
                return _load_file(Path(module))
            return importlib.import_module(module)
        except ImporterError:
            raise
        except ModuleNotFoundError as exc:
            if exc.name is None or not (module == exc.name or module.startswith(f"{exc.name}.")):
                raise ImporterError(
                    f"importing the settings module {module!r} failed: it imports {exc.name!r}, "
                    "which is not installed here"
                ) from None
            raise ImporterError(
                f"cannot import the settings module {module!r}: {exc} (looked in {os.getcwd()} and on "
                "sys.path; run from your project's directory or set PYTHONPATH)"
            ) from None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the user's code may raise anything, sys.exit() included
            reason = " ".join(str(exc).split())[:_MAX_REASON]
            raise ImporterError(
                f"importing the settings module {module!r} failed: {type(exc).__name__}: {reason}"
            ) from None


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ImporterError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location(f"_postwarden_import_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImporterError(f"{path} cannot be loaded as a Python module")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@contextmanager
def _forgotten(module: str) -> Iterator[None]:
    """Drop a newly imported settings module from ``sys.modules`` afterwards, so that a
    later import (the console's import page, run again) reads the file as it is then."""
    known = module in sys.modules
    try:
        yield
    finally:
        if not known:
            sys.modules.pop(module, None)


@contextmanager
def _cwd_on_path() -> Iterator[None]:
    """The current directory first on ``sys.path`` while importing (as ``manage.py`` has it)."""
    added = os.getcwd()
    sys.path.insert(0, added)
    try:
        yield
    finally:
        if added in sys.path:
            sys.path.remove(added)


def _backend(get: _Getter, result: Imported) -> None:
    backend, origin = get("EMAIL_BACKEND")
    if backend != _SMTP_BACKEND:
        result.note(
            f"{origin} is {backend!r}, not Django's SMTP backend: this project does not send with the "
            "EMAIL_HOST settings below; they are imported so that the doctor can check them"
        )


def _server(get: _Getter, result: Imported) -> None:
    for theirs, ours in (
        ("EMAIL_HOST", "SMTP_HOST"),
        ("EMAIL_PORT", "SMTP_PORT"),
        ("EMAIL_HOST_USER", "SMTP_USER"),
    ):
        value, origin = get(theirs)
        if value not in (None, ""):
            result.set(ours, str(value).strip(), origin)
    password, origin = get("EMAIL_HOST_PASSWORD")
    if isinstance(password, str) and password:
        result.set("SMTP_PASSWORD", password, origin)
    use_tls, tls_origin = get("EMAIL_USE_TLS")
    use_ssl, ssl_origin = get("EMAIL_USE_SSL")
    if use_tls and use_ssl:
        # Django refuses this too: "EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive"
        raise ImporterError(
            f"{tls_origin} and {ssl_origin} are both true; Django itself refuses this (they are mutually "
            "exclusive): set EMAIL_USE_SSL for implicit TLS (port 465) or EMAIL_USE_TLS for STARTTLS (587)"
        )
    if use_ssl:
        result.set("SMTP_SECURITY", "ssl", ssl_origin)
    elif use_tls:
        result.set("SMTP_SECURITY", "starttls", tls_origin)
        result.note(f"{tls_origin} means STARTTLS, required, in Django: imported as SMTP_SECURITY=starttls")
    else:
        result.set("SMTP_SECURITY", "none", f"{tls_origin} and {ssl_origin} (both false)")
        result.note(
            "neither EMAIL_USE_TLS nor EMAIL_USE_SSL is set: Django talks to the server in plain text"
        )
    timeout, timeout_origin = get("EMAIL_TIMEOUT")
    if timeout is None:
        result.note(
            f"{timeout_origin} is None: Django would wait for the server without limit; "
            "Postwarden uses its own SMTP_TIMEOUT"
        )
    else:
        result.set("SMTP_TIMEOUT", str(timeout), timeout_origin)


def _sender(get: _Getter, result: Imported) -> None:
    address, origin = get("DEFAULT_FROM_EMAIL")
    if isinstance(address, str) and address.strip():
        set_from(result, address, origin, name_given=False)
    if address == DEFAULTS["DEFAULT_FROM_EMAIL"]:
        result.note(f"{origin} is Django's webmaster@localhost, which mail servers refuse; set MAIL_FROM")
    server_email, server_origin = get("SERVER_EMAIL")
    if isinstance(server_email, str) and server_email.strip() and server_email != address:
        result.note(
            f"{server_origin} ({server_email}) sends Django's error mails to ADMINS; it is not "
            "imported (Postwarden sends from MAIL_FROM)"
        )
