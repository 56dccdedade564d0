"""A message that names a stored template: its subject, text and HTML rendered from the
template's newest version, and a timeline entry saying which version that was."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from postwarden.core.i18n import Number, Text
from postwarden.core.templating import TemplateError
from postwarden.mailtemplates import store as templates
from postwarden.mailtemplates.models import Version
from postwarden.outbox.errors import Refused

if TYPE_CHECKING:
    from postwarden.outbox.submission import Outgoing

#: (kind, detail, data) of a timeline entry written with the message
EventRow = tuple[str, str, dict[str, Any]]


class TemplateCache:
    """Renders the messages of one enqueue call; each template is read once per call (a
    batch of 500 naming the same template reads it once)."""

    def __init__(self) -> None:
        self._found: dict[str, Version | None] = {}

    def rendered(self, outgoing: Outgoing) -> tuple[Outgoing, list[EventRow]]:
        """``outgoing`` with its template rendered in, and the timeline entry to write.
        Raises :class:`Refused` (400) for a missing template or variable, a template error,
        or a template given together with a subject or body."""
        if outgoing.template is None:
            if outgoing.variables:
                raise Refused("variables", "variables are for a template: give 'template' too")
            return outgoing, []
        if outgoing.subject or outgoing.text is not None or outgoing.html is not None:
            raise Refused(
                "template",
                "give either 'template' and 'variables', or 'subject' with 'text'/'html', not both",
            )
        name = outgoing.template
        if name not in self._found:
            self._found[name] = templates.latest(name)
        found = self._found[name]
        if found is None:
            raise Refused("template", f"no template {name!r}")
        try:
            done = templates.render_version(found, outgoing.variables)
        except TemplateError as exc:
            field = f"variables.{exc.variables[0]}" if exc.variables else "template"
            raise Refused(field, templates.describe(found, exc)) from None
        event = (
            "template",
            Text("rendered from template {name} version {version}", name=name, version=Number(found.number)),
            {"template": name, "version": found.number},
        )
        return dataclasses.replace(outgoing, subject=done.subject, text=done.text, html=done.html), [event]
