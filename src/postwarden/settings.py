"""Django settings: infrastructure only.

Where mail goes (SMTP host, provider keys …) is *runtime* configuration: it may be saved
in the console and is resolved at send time by :mod:`postwarden.configstore`, never read
from here (docs/architecture.md "Runtime settings are not Django settings"). This module reads
the same resolver for the service settings (database, data directory, secret key).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url

from postwarden.core import i18n
from postwarden.core.config.resolve import ConfigError, env_layers, resolve

try:
    SERVICE_SETTINGS = resolve(*env_layers())
except ConfigError as exc:  # say what to set instead of a traceback from deep inside Django
    with i18n.override(i18n.language_from_environ(os.environ)):
        sys.stderr.write(f"{i18n.localize(exc.said())}\n")
    raise SystemExit(2) from None

_service = SERVICE_SETTINGS.service
# Nothing is created here: the start-up commands make the data directory and the secret
# key before Django is set up (cli/django_setup.py), every other command refuses without them
DATA_DIR = _service.data_dir
SECRET_KEY = _service.secret_key.reveal()
DEBUG = False
ALLOWED_HOSTS = list(_service.allowed_hosts) or ["localhost", "127.0.0.1", "[::1]", _service.host]
if _service.host in ("0.0.0.0", "::") and not _service.allowed_hosts:  # noqa: S104 - listening everywhere
    ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "anymail",
    # ninja's own templates and static files: /api/docs then serves Swagger UI from this
    # origin. Without the app, ninja renders a page that loads it from a CDN with an inline
    # script, which the console's Content-Security-Policy blocks (the page stayed blank)
    # and which an offline install cannot reach.
    "ninja",
    "postwarden.transports",
    "postwarden.configstore",
    "postwarden.accounts",
    "postwarden.mailtemplates",
    "postwarden.monitor",
    "postwarden.outbox",
    "postwarden.canaries",
    "postwarden.webhooks",
    "postwarden.doctor",
    "postwarden.api",
    "postwarden.console",
    "postwarden.relay",
    "postwarden.bounces",
    "postwarden.alerts",
]

MIDDLEWARE = [
    # The cookie-only ones (session, CSRF, user, login, messages) step aside for /api/,
    # which authenticates by key: api/middleware.py.
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "postwarden.api.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "postwarden.api.middleware.CsrfViewMiddleware",
    "postwarden.api.middleware.AuthenticationMiddleware",
    "postwarden.api.middleware.LoginRequiredMiddleware",
    "postwarden.api.middleware.MessageMiddleware",
    # after the user is known: their own language, else the instance's, else the browser's
    "postwarden.console.language.LanguageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "postwarden.console.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "postwarden.urls"
WSGI_APPLICATION = "postwarden.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:overview"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "postwarden.console.context.console",
            ],
        },
    },
]


#: SQLite's page cache per connection, KiB (an upper bound: pages are taken as they are used)
SQLITE_CACHE_KIB = 32768


def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True))
    if config["ENGINE"].endswith("sqlite3"):
        # WAL lets the console read while the worker writes; IMMEDIATE takes the write lock
        # at BEGIN so two writers queue on busy_timeout instead of failing with
        # "database is locked" on lock upgrade; synchronous=FULL keeps every committed
        # result through a power cut (the worker commits in batches, so the fsync is shared by
        # many rows: docs/reference/send-baselines.md). The page cache holds up to 32 MiB
        # (SQLite's default is 2 MiB) so that a batch's writes fit: a smaller cache spills
        # dirty pages to the WAL mid-transaction and writes them again, and re-reads the
        # index pages a large outbox spreads them over (docs/performance.md).
        config["CONN_MAX_AGE"] = None
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
            f"PRAGMA cache_size=-{SQLITE_CACHE_KIB};",
        }
    return config


DATABASES = {"default": _database(_service.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "postwarden.accounts.passwords.MinimumLength", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# The console's languages (docs/configuration.md POSTWARDEN_LANGUAGE); each app that renders
# words keeps its catalog in <app>/locale (CONTRIBUTING.md "Translations")
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fa", "فارسی")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# whitenoise serves straight from the apps' static folders: no collectstatic step for
# `make run`; the finders are enough for a console this size.
WHITENOISE_USE_FINDERS = True
# files browsers ask for at the root: /favicon.ico
WHITENOISE_ROOT = Path(__file__).resolve().parent / "console" / "root"
WHITENOISE_AUTOREFRESH = False

# The API takes messages up to POSTWARDEN_MAX_MESSAGE_BYTES (10 MB by default, JSON-escaped)
# and batches of up to 500; Django's 2.5 MB default would refuse those before the API could
# say why. The outbox enforces the real per-message limit with a 413 that names it.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
CSRF_COOKIE_SAMESITE = "Lax"
# a form sent without its token gets the console's page, not Django's bare one
CSRF_FAILURE_VIEW = "postwarden.console.views.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if _service.https:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000

# Django's own outbound mail (password reset of console users) goes through Postwarden's
# own outbox like everything else.
EMAIL_BACKEND = "postwarden.outbox.django_backend.OutboxBackend"

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "postwarden.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "postwarden.logs.BufferedStreamHandler", "formatter": "json"},
        "recent": {"class": "postwarden.logs.RecentHandler", "formatter": "json"},
    },
    "root": {"handlers": ["stderr", "recent"], "level": "INFO"},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
