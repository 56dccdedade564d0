"""Saving, finding and rendering stored templates: the one way to them for the API, the
console, the outbox and the doctor.

Saving compiles every part first (a syntax error or an unknown filter is refused with
its line), so a stored version always compiles; what a version cannot know until it is
rendered is which variables a message will give."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from postwarden.core.i18n import Number, Text, said
from postwarden.core.templating import Rendered, TemplateError, TemplateSource, check, render
from postwarden.mailtemplates.models import Template, Version

#: letters, digits and . _ - ; used in URLs (/api/v1/templates/{name})
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_PART: Final = 512 * 1024


class InvalidTemplate(ValueError):
    """A template that cannot be saved; ``field`` names the part (name, subject, text, html).
    ``message`` is a :class:`~postwarden.core.i18n.Text`: English in the API's answer, in the
    reader's language in the console."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Missing(InvalidTemplate):
    """The template (or version) to change is not there."""


class Conflict(InvalidTemplate):
    """The name is taken, or another save of it happened at the same moment."""


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    subject: str
    text: str | None = None
    html: str | None = None
    sample_variables: Mapping[str, Any] | None = None


def source_of(version: Version) -> TemplateSource:
    return TemplateSource(version.subject, version.text, version.html)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise InvalidTemplate(
            "name",
            Text(
                "template name {name} is not allowed: 1 to 100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
                name=repr(name),
            ),
        )
    return name


def save(name: str, draft: TemplateDraft, *, by: str, create: bool | None = None) -> Version:
    """Store ``draft`` as the next version of ``name`` (version 1 of a new template).
    ``create`` True refuses an existing name, False an unknown one. Raises :class:`InvalidTemplate`."""
    check_name(name)
    _check_draft(draft)
    now = timezone.now()
    try:
        with transaction.atomic():
            template = Template.objects.select_for_update().filter(name=name).first()
            if template is None:
                if create is False:
                    raise Missing("name", Text("no template {name}", name=repr(name)))
                template = Template.objects.create(name=name, created_at=now, updated_at=now)
            elif create:
                raise Conflict(
                    "name",
                    Text("template {name} exists: change it with PUT to add a version", name=repr(name)),
                )
            number = (Version.objects.filter(template=template).aggregate(top=Max("number"))["top"] or 0) + 1
            Template.objects.filter(pk=template.pk).update(updated_at=now)
            return Version.objects.create(
                template=template,
                number=number,
                subject=draft.subject,
                text=draft.text,
                html=draft.html,
                sample_variables=dict(draft.sample_variables or {}),
                created_at=now,
                created_by=by[:200],
            )
    except IntegrityError:
        # two saves of the same name at once: one wins, the other is told to try again
        raise Conflict(
            "name", Text("template {name} was changed at the same moment; send it again", name=repr(name))
        ) from None


def _check_draft(draft: TemplateDraft) -> None:
    if not isinstance(draft.subject, str) or len(draft.subject) > 998:
        raise InvalidTemplate("subject", Text("subject must be a string of at most 998 characters"))
    for field, value in (("text", draft.text), ("html", draft.html)):
        if value is not None and len(value) > MAX_PART:
            raise InvalidTemplate(
                field,
                Text(
                    "{field} is {length} characters long; at most {most}",
                    field=field,
                    length=Number(len(value)),
                    most=Number(MAX_PART),
                ),
            )
    try:
        check(TemplateSource(draft.subject, draft.text, draft.html))
    except TemplateError as exc:
        raise InvalidTemplate(exc.part, said(exc)) from None


def latest(name: str) -> Version | None:
    return Version.objects.filter(template__name=name).select_related("template").order_by("-number").first()


def version(name: str, number: int) -> Version | None:
    return Version.objects.filter(template__name=name, number=number).select_related("template").first()


def delete(name: str) -> bool:
    deleted, _ = Template.objects.filter(name=name).delete()
    return deleted > 0


def render_version(found: Version, variables: Mapping[str, Any]) -> Rendered:
    """Raises :class:`TemplateError`."""
    return render(source_of(found), variables)


def describe(found: Version, error: TemplateError) -> str:
    """The error as a caller reads it: which template, which version, where and what."""
    return f"template {found.template.name!r} version {found.number}, {error}"
