"""The recipient-suggestion mode: which members ``GET /api/v1/recipients/suggest`` offers
(Metabase's three choices), set in the console's People page. Kept here, below both the API
and the console, which both use it."""

from __future__ import annotations

from typing import Final

from django.utils import timezone

from postwarden.accounts.models import Preference

SUGGESTION_MODE: Final = "recipient_suggestions"
#: all members / members of the same groups only / none (Metabase's three choices)
SUGGESTION_MODES: Final = ("all", "groups", "none")
DEFAULT_SUGGESTION_MODE: Final = "all"


def suggestion_mode() -> str:
    row = Preference.objects.filter(name=SUGGESTION_MODE).first()
    if row is None or row.value not in SUGGESTION_MODES:
        return DEFAULT_SUGGESTION_MODE
    return row.value


def set_suggestion_mode(mode: str) -> None:
    """Raises ValueError for a mode that is not one of SUGGESTION_MODES."""
    if mode not in SUGGESTION_MODES:
        raise ValueError(f"unknown suggestion mode {mode!r}: use one of {', '.join(SUGGESTION_MODES)}")
    Preference.objects.update_or_create(
        name=SUGGESTION_MODE, defaults={"value": mode, "updated_at": timezone.now()}
    )
