"""The one place that builds the VERP return paths of the running settings: the worker
writes them, the bounce intake checks them, with the same key (derived from the service's
secret key, Django's ``SECRET_KEY``)."""

from __future__ import annotations

from django.conf import settings as django_settings

from postwarden.core.config.model import Settings
from postwarden.core.secrets import Secret
from postwarden.core.verp import Verp


def return_paths(settings: Settings) -> Verp | None:
    """The return paths for ``settings``, or None when BOUNCE_DOMAIN is not set."""
    domain = settings.bounces.domain
    if not domain:
        return None
    return Verp(domain, Secret(django_settings.SECRET_KEY))
