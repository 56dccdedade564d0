"""Webhook test helpers: settings resolved by the real resolver from console-style
values, and a sent message whose recipients carry a provider message id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from postwarden.core.config.resolve import resolve_environment
from postwarden.outbox.models import Message, Recipient, State
from postwarden.webhooks import views
from tests import factories

BASIC_USER, BASIC_PASSWORD = "hooks", "basic-pass-5e8d1c"


@pytest.fixture(autouse=True)
def _webhook_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.webhooks.urls"


@pytest.fixture
def configure(db: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``configure(NAME=value, …)``: the settings the webhook views read, resolved from
    values as the console stores them (environment and .env left out)."""

    def save(**values: str) -> None:
        resolved = resolve_environment(stored=values, environ={}, dotenv=None)
        monkeypatch.setattr(views, "load_settings", lambda: resolved)

    return save


@pytest.fixture
def sent(db: None) -> Callable[..., Recipient]:
    """``sent("ann@example.net", pmid="…")``: a message with that recipient in state sent."""

    def make(
        address: str,
        *,
        pmid: str,
        state: State = State.SENT,
        message: Message | None = None,
        message_id: str = factories.MESSAGE_ID,
    ) -> Recipient:
        return factories.recipient(
            address,
            state=state,
            of=message or factories.message(message_id=message_id),
            provider_message_id=pmid,
        )

    return make
