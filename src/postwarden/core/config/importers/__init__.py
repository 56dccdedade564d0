"""Settings written for other products, in Postwarden's variable names (docs/spec/config.md,
"Importers"). Each importer translates by what that product does on the wire, so the
doctor diagnoses what the product would really do.

Use::

    imported = load("mattermost:/opt/mattermost/config/config.json", environ=os.environ)
    layer = Layer(Origin.IMPORT, imported.values, imported.origins)   # for the resolver
"""

from __future__ import annotations

from collections.abc import Mapping

from postwarden.core.config.importers.base import Imported, ImporterError
from postwarden.core.config.importers.django_module import load_django_module
from postwarden.core.config.importers.mattermost import load_mattermost
from postwarden.core.config.importers.metabase_env import load_metabase_env

__all__ = ["SOURCES", "Imported", "ImporterError", "load"]

#: what ``--from`` accepts, as shown in help and errors
SOURCES = ("env", "metabase-env", "mattermost:PATH", "django:MODULE")
_EXAMPLES = {
    "mattermost": "give the path of config.json, e.g. mattermost:/opt/mattermost/config/config.json",
    "django": "give a settings module, e.g. django:mysite.settings",
}


def load(source: str, *, environ: Mapping[str, str]) -> Imported:
    """Import settings from ``source``: ``"metabase-env"``, ``"mattermost:PATH"``,
    ``"django:MODULE"`` (a dotted name or a ``.py`` path) or ``"env"``.

    ``"env"`` imports nothing: the resolver reads the environment itself. Mattermost's
    ``MM_EMAILSETTINGS_*`` overrides come from ``environ``; a Django module reads the
    process environment itself, as it would under Django.
    Raises :class:`ImporterError` (a ``ValueError``) for an unknown source or one that
    cannot be read; its message never contains a secret.
    """
    kind, sep, argument = source.strip().partition(":")
    if kind == "env" and not sep:
        return Imported(notes=["--from env: the environment is read as it is, nothing to translate"])
    if kind == "metabase-env" and not sep:
        return load_metabase_env(environ)
    if kind == "mattermost" and argument.strip():
        return load_mattermost(argument.strip(), environ)
    if kind == "django" and argument.strip():
        return load_django_module(argument.strip())
    if kind in _EXAMPLES:
        raise ImporterError(f"{kind}: {_EXAMPLES[kind]}")
    raise ImporterError(f"unknown import source {source!r}: use one of {', '.join(SOURCES)}")
