"""Django system checks with stable IDs for the doctor's config stage (docs/style.md §12).

They CALL the doctor's own :func:`~postwarden.core.doctor.checks.config.config_findings`,
so ``postwarden manage check`` and ``postwarden doctor --only config`` can never
disagree. They are Warnings, not Errors, on purpose: a Django Error stops ``migrate``
and ``serve``, and a fresh install (nothing configured yet, mail only captured) must
still start; the doctor keeps its own severities and exit status.
"""

from __future__ import annotations

from typing import Any, Final

from django.core import checks
from django.db import DatabaseError

from postwarden.core.config.model import Settings
from postwarden.core.config.resolve import ConfigError, resolve_environment
from postwarden.core.doctor.checks.config import config_findings
from postwarden.core.doctor.model import Code
from postwarden.core.i18n import Text, gettext, localize

#: doctor code -> system check ID; IDs never change meaning (tests pin them)
CHECK_IDS: Final[dict[Code, str]] = {
    Code.CONFIG_MISSING: "postwarden.W001",
    Code.CONFIG_INVALID_ADDRESS: "postwarden.W002",
    Code.CONFIG_DISABLED: "postwarden.W003",
    Code.CONFIG_AUTH_WITHOUT_TLS: "postwarden.W004",
    Code.CONFIG_SECURITY_PORT_MISMATCH: "postwarden.W005",
    Code.CONFIG_OPPORTUNISTIC_WITH_AUTH: "postwarden.W006",
    Code.CONFIG_FREEMAIL_FROM: "postwarden.W007",
}
HINT_SUFFIX: Final = Text("Run `postwarden doctor` to check the whole delivery path.")


def _settings() -> Settings:
    """What the worker would use; before ``migrate`` (no settings table yet) the
    environment alone."""
    from postwarden.configstore.runtime import current_settings

    try:
        return current_settings()
    except DatabaseError:
        return resolve_environment()


@checks.register("postwarden")
def doctor_config_checks(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        settings = _settings()
    except ConfigError as exc:
        return [
            checks.Error(
                localize(exc.said()), id="postwarden.E001", hint=gettext("Fix the settings named above.")
            )
        ]
    # a person reads these (``postwarden manage check``, a server starting): in the language
    # the command line chose (core/i18n.py); the finding code and the check ID stay as they are
    messages: list[checks.CheckMessage] = []
    for finding in config_findings(settings, recipient=settings.sending.test_email):
        hint = " ".join(localize(step) for step in (*finding.steps[:2], HINT_SUFFIX))
        said = Text(
            "{code}: {title} ({evidence})",
            code=finding.code.value,
            title=finding.title,
            evidence=finding.evidence,
        )
        messages.append(checks.Warning(localize(said), hint=hint, id=CHECK_IDS[finding.code]))
    return messages
