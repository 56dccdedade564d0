"""``/api/v1/templates``: stored, versioned mail templates (subject, text, HTML; Jinja2 in
a sandbox, strict about missing variables).

- ``POST`` (scope ``send``): a new template, version 1; 409 when the name exists.
- ``GET`` (scope ``read``): every template, its newest version's number and subject.
- ``GET /{name}`` (scope ``read``): the newest version, or ``?version=N``, and the list of
  versions.
- ``PUT /{name}`` (scope ``send``): a new version (messages already sent keep theirs).
- ``DELETE /{name}`` (scope ``send``): the template and all its versions.
- ``POST /{name}/render`` (scope ``read``): a preview with the variables given (or the
  version's sample variables); nothing is sent. 400 names a missing variable and line.

A message names a template with ``"template": "<name>", "variables": {…}`` instead of a
subject and body (``POST /api/v1/messages``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, Field

from postwarden.accounts.models import ApiKey
from postwarden.api import params
from postwarden.api.auth import scope
from postwarden.api.errors import errors
from postwarden.api.message_schemas import ErrorOut
from postwarden.core.templating import TemplateError
from postwarden.mailtemplates import store
from postwarden.mailtemplates.models import Template, Version
from postwarden.outbox import sources
from postwarden.outbox.links import link_warnings

router = Router(tags=["templates"])

_STRICT = ConfigDict(extra="forbid")


class TemplateIn(BaseModel):
    model_config = _STRICT

    #: letters, digits, '.', '_' and '-'
    name: str
    #: a Jinja2 template, like text and html
    subject: str
    #: omitted: made from the rendered HTML
    text: str | None = None
    #: auto-escaped
    html: str | None = None
    #: what previews and the doctor render this version with
    sample_variables: dict[str, Any] = Field(default_factory=dict)


class TemplateChange(BaseModel):
    model_config = _STRICT

    subject: str
    text: str | None = None
    html: str | None = None
    sample_variables: dict[str, Any] = Field(default_factory=dict)


class VersionSummary(BaseModel):
    version: int
    created_at: datetime
    created_by: str


class TemplateOut(BaseModel):
    name: str
    version: int
    subject: str
    text: str | None
    html: str | None
    sample_variables: dict[str, Any]
    created_at: datetime
    created_by: str
    versions: list[VersionSummary]


class TemplateSummary(BaseModel):
    name: str
    version: int
    subject: str
    updated_at: datetime


class RenderIn(BaseModel):
    model_config = _STRICT

    #: omitted: the version's sample variables
    variables: dict[str, Any] | None = None
    #: omitted: the newest
    version: int | None = params.number()


class LinkWarning(BaseModel):
    url: str
    #: why it would not work for a recipient
    problem: str


class RenderOut(BaseModel):
    name: str
    version: int
    subject: str
    text: str | None
    html: str | None
    #: the links a message rendered so would be warned (or, with LINKS_REFUSE, refused) about
    links: list[LinkWarning]


class VersionQuery(BaseModel):
    model_config = _STRICT

    version: int | None = params.number()


def _by(request: HttpRequest) -> str:
    key: ApiKey = request.api_key  # type: ignore[attr-defined]  # set by api.auth
    return str(sources.api_key(key.name))


def _out(found: Version) -> TemplateOut:
    versions = Version.objects.filter(template_id=found.template_id).order_by("number")
    return TemplateOut(
        name=found.template.name,
        version=found.number,
        subject=found.subject,
        text=found.text,
        html=found.html,
        sample_variables=dict(found.sample_variables or {}),
        created_at=found.created_at,
        created_by=found.created_by,
        versions=[
            VersionSummary(version=v.number, created_at=v.created_at, created_by=v.created_by)
            for v in versions
        ],
    )


def _found(name: str, number: int | None = None) -> Version:
    found = store.latest(name) if number is None else store.version(name, number)
    if found is None:
        raise HttpError(404, f"no template {name!r}" + (f" version {number}" if number is not None else ""))
    return found


def _saved(name: str, draft: store.TemplateDraft, by: str, *, create: bool) -> Version | Status[ErrorOut]:
    try:
        return store.save(name, draft, by=by, create=create)
    except store.InvalidTemplate as exc:
        status = 404 if isinstance(exc, store.Missing) else 409 if isinstance(exc, store.Conflict) else 400
        return Status(status, ErrorOut(detail=exc.message, field=exc.field))


@router.post(
    "",
    response={201: TemplateOut, 400: ErrorOut, 409: ErrorOut},
    auth=scope("send"),
    summary="Create a template",
)
def create_template(request: HttpRequest, body: TemplateIn) -> Status[TemplateOut] | Status[ErrorOut]:
    """Version 1 of a new template. 400 names a syntax error or unknown filter with its
    part and line; 409 when the name exists (use PUT for a new version)."""
    draft = store.TemplateDraft(body.subject, body.text, body.html, body.sample_variables)
    saved = _saved(body.name, draft, _by(request), create=True)
    return saved if isinstance(saved, Status) else Status(201, _out(saved))


@router.get("", response={200: list[TemplateSummary]}, auth=scope("read"), summary="List templates")
def list_templates(request: HttpRequest) -> list[TemplateSummary]:
    out = []
    for template in Template.objects.order_by("name"):
        newest = Version.objects.filter(template=template).order_by("-number").first()
        if newest is not None:
            out.append(
                TemplateSummary(
                    name=template.name,
                    version=newest.number,
                    subject=newest.subject,
                    updated_at=template.updated_at,
                )
            )
    return out


@router.get("/{name}", response={200: TemplateOut, **errors(404)}, auth=scope("read"), summary="A template")
def get_template(request: HttpRequest, name: str, query: Query[VersionQuery]) -> TemplateOut:
    """The newest version, or ``?version=N``; 404 for an unknown name or version."""
    return _out(_found(name, query.version))


@router.put(
    "/{name}",
    response={200: TemplateOut, 400: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    auth=scope("send"),
    summary="Change a template (a new version)",
)
def change_template(request: HttpRequest, name: str, body: TemplateChange) -> TemplateOut | Status[ErrorOut]:
    """200 with the new version; 404 when there is no such template; 409 when another
    change of it was saved at the same moment (send it again)."""
    draft = store.TemplateDraft(body.subject, body.text, body.html, body.sample_variables)
    saved = _saved(name, draft, _by(request), create=False)
    return saved if isinstance(saved, Status) else _out(saved)


@router.delete(
    "/{name}", response={204: None, **errors(404)}, auth=scope("send"), summary="Delete a template"
)
def delete_template(request: HttpRequest, name: str) -> HttpResponse:
    """Every version goes; messages rendered from it keep their text and timeline."""
    if not store.delete(name):
        raise HttpError(404, f"no template {name!r}")
    return HttpResponse(status=204)


@router.post(
    "/{name}/render",
    response={200: RenderOut, 400: ErrorOut, **errors(404)},
    auth=scope("read"),
    summary="Preview a template",
)
def render_template(request: HttpRequest, name: str, body: RenderIn) -> RenderOut | Status[ErrorOut]:
    """Render without sending. 400 names a missing variable (``field``: ``variables.<name>``)
    or a template error with the part and line."""
    found = _found(name, body.version)
    variables = body.variables if body.variables is not None else dict(found.sample_variables or {})
    try:
        done = store.render_version(found, variables)
    except TemplateError as exc:
        field = f"variables.{exc.variables[0]}" if exc.variables else "template"
        return Status(400, ErrorOut(detail=store.describe(found, exc), field=field))
    return RenderOut(
        name=name,
        version=found.number,
        subject=done.subject,
        text=done.text,
        html=done.html,
        links=[LinkWarning(url=w.url, problem=w.problem) for w in link_warnings(done.text, done.html)],
    )
