"""The last line of defence: no secret leaves the doctor, whatever a server echoes.

Checks never put a secret into a report on purpose (settings show "set"/"empty", the
SMTP transcript redacts AUTH). But servers quote what they received - a "500 5.5.2
syntax error" can carry the base64 AUTH PLAIN line, a provider's error body can repeat
the key - so every string of the report passes through :class:`Redactor` before it is
returned, printed or serialised.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import re
from collections.abc import Iterable
from typing import Any, Final, TypeVar

from postwarden.core.config.model import Settings
from postwarden.core.i18n import Joined, Text
from postwarden.core.secrets import MASK

#: secrets shorter than this are replaced only where they stand as a whole word, so that
#: a two-letter password does not blank out every "ab" in the report
_MIN_ANYWHERE: Final = 4

T = TypeVar("T")


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode("ascii")


class Redactor:
    """Replaces known secret values (and their base64 AUTH forms) with ``••••``."""

    def __init__(self, secrets: Iterable[str], user: str | None = None) -> None:
        values = {s for s in secrets if s}
        forms = set(values)
        for value in values:
            forms.add(_b64(value))
            if user:  # AUTH PLAIN initial responses (RFC 4616) and LOGIN's password line
                forms.update({_b64(f"\0{user}\0{value}"), _b64(f"{user}\0{user}\0{value}")})
            forms.update(line for line in value.splitlines() if len(line) >= 16)  # PEM key lines
        # longest first, so a form inside a longer one (a PEM line inside the whole key)
        # never leaves the rest of the longer one readable. Plain substring replacement:
        # one alternation of every form (a DKIM key has dozens of lines, each with its
        # base64 twin) took the regex compiler a tenth of a second per run.
        self._long = tuple(sorted((f for f in forms if len(f) >= _MIN_ANYWHERE), key=len, reverse=True))
        short = [f for f in forms if len(f) < _MIN_ANYWHERE]
        parts = [rf"(?<!\w){re.escape(f)}(?!\w)" for f in short]
        self._pattern = re.compile("|".join(parts)) if parts else None

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        provider = [s.reveal() for s in settings.provider.secrets.values() if s.is_set]
        oauth2 = settings.smtp.oauth2
        signin = (
            [oauth2.client_secret, oauth2.client_cert, oauth2.service_account, oauth2.refresh_token]
            if oauth2 is not None
            else []
        )
        secrets = [
            settings.smtp.password.reveal(),
            *(s.reveal() for s in signin),
            settings.signing.private_key.reveal(),
            settings.service.secret_key.reveal(),
            settings.service.admin_password.reveal(),
            *provider,
            # the HTTP Basic credentials Mailgun's API takes (user "api"): an error page
            # that echoes the Authorization header shows their base64
            *(f"api:{key}" for key in provider),
        ]
        return cls(secrets, settings.smtp.user)

    def text(self, value: str) -> str:
        if isinstance(value, Text):
            return self._sentence(value)
        if not value:
            return value
        for form in self._long:
            if form in value:
                value = value.replace(form, MASK)
        if self._pattern is not None:
            value = self._pattern.sub(MASK, value)
        return value

    def any(self, value: Any) -> Any:
        """``value`` with every string inside it redacted (str, lists, tuples, dicts, records)."""
        if isinstance(value, enum.Enum):  # codes and statuses are str enums: never rewrite them
            return value
        if isinstance(value, Text):
            return self._sentence(value)
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return type(value)(self.any(v) for v in value)
        if isinstance(value, dict):
            return {k: self.any(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self.any(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return dataclasses.replace(value, **changes)
        return value

    def _sentence(self, value: Text) -> str:
        """A translatable sentence stays translatable: its data (the parameters, a joined
        sentence's parts) is redacted; should a secret still show in the whole, the
        plain redacted English is returned instead."""
        if isinstance(value, Joined):
            masked: Text = value.with_parts(self.any(part) for part in value.parts)
        else:
            masked = value.with_params(**{name: self.any(v) for name, v in value.params.items()})
        whole = self.text(str(masked))
        return masked if whole == masked else whole

    def report(self, report: T) -> T:
        return self.any(report)  # type: ignore[no-any-return]
