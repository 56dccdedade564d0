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
HINT_SUFFIX: Final = "Run `postwarden doctor` to check the whole delivery path."


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
        return [checks.Error(str(exc), id="postwarden.E001", hint="Fix the settings named above.")]
    messages: list[checks.CheckMessage] = []
    for finding in config_findings(settings, recipient=settings.sending.test_email):
        hint = " ".join((*finding.steps[:2], HINT_SUFFIX))
        messages.append(
            checks.Warning(
                f"{finding.code.value}: {finding.title} ({finding.evidence})",
                hint=hint,
                id=CHECK_IDS[finding.code],
            )
        )
    return messages
