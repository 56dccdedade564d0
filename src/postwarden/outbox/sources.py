"""Who or what did something to a recipient or an address, as a timeline event's detail and
a suppression's source name it: a person in the console, an API key, a delivery attempt, a
provider's event, a bounce.

Each is a :class:`Text`: the row stores its English (the API, the logs and the CSV export
read that, unchanged) and keeps the sentence beside it, so a page says it in the reader's
language with the name, address or id inside it as it is.
"""

from __future__ import annotations

from postwarden.core.i18n import Number, Text


def person(email: str) -> Text:
    """Someone signed in to the console."""
    return Text("console: {person}", person=email)


def api_key(name: str) -> Text:
    return Text("api key {name}", name=name)


def attempt(number: int, public_id: str) -> Text:
    """A delivery attempt the server answered (an address it said does not exist)."""
    return Text("attempt {number} of {message}", number=Number(number), message=public_id)


def provider_event(provider: str, event_id: str) -> Text:
    """An event a provider's webhook delivered."""
    return Text("{provider} event {id}", provider=provider, id=event_id)


def bounce(reference: str) -> Text:
    """A bounce that came back by mail (its Message-ID, or its digest's start)."""
    return Text("bounce {id}", id=reference)
