"""Stored mail templates in the console: the list, an editor with a live preview at laptop
and phone width from the sample variables, the versions with a diff between any two,
"Send test" (the newest version, rendered with its samples, to one address) and delete.

Everything goes through :mod:`postwarden.mailtemplates.store` and the outbox's own
enqueue, as the API does. The rendered HTML is shown in ``<iframe sandbox="">`` (no
script, no navigation), never in the console's own document."""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import re
from dataclasses import dataclass
from html import escape as html_escape
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from postwarden.console import mail_display
from postwarden.core.i18n import said
from postwarden.core.links import LinkProblem
from postwarden.core.templating import Rendered, TemplateError, TemplateSource
from postwarden.core.templating import render as render_template
from postwarden.mailtemplates import store
from postwarden.mailtemplates.models import Template, Version
from postwarden.outbox.errors import Refused
from postwarden.outbox.links import link_warnings
from postwarden.outbox.submission import Outgoing, enqueue

log = logging.getLogger(__name__)

#: the widths the preview shows the HTML at: the mail page's
WIDTHS = mail_display.WIDTHS


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    subject: str
    text: str | None
    html: str | None
    sample: str


@dataclass(frozen=True, slots=True)
class Preview:
    rendered: Rendered | None
    error: str
    links: list[LinkProblem]


def _form(request: HttpRequest, name: str = "") -> Form:
    data = request.POST

    def part(key: str) -> str | None:
        value = data.get(key, "").replace("\r\n", "\n")
        return value if value.strip() else None

    return Form(
        name=data.get("name", name).strip(),
        subject=data.get("subject", ""),
        text=part("text"),
        html=part("html"),
        sample=data.get("sample_variables", "").strip() or "{}",
    )


def _sample(text: str) -> dict[str, Any]:
    """The sample variables as typed: a JSON object. Raises ValueError saying what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # the JSON parser's own words (exc.msg) are quoted as they came
        raise ValueError(
            _("sample variables: not JSON (%(problem)s, line %(line)s)")
            % {"problem": exc.msg, "line": exc.lineno}
        ) from None
    if not isinstance(value, dict):
        raise ValueError(_('sample variables: give a JSON object, e.g. {"name": "Ann"}'))
    return value


def _preview(form: Form) -> Preview:
    try:
        variables = _sample(form.sample)
        done = render_template(TemplateSource(form.subject, form.text, form.html), variables)
    except (ValueError, TemplateError) as exc:
        return Preview(None, said(exc), [])
    shown = dataclasses.replace(done, html=_placeholders(done.html)) if done.html else done
    return Preview(shown, "", link_warnings(done.text, done.html))


#: an <img> (or any src) that names an inline part: the preview has no parts to show
_CID_SOURCE = re.compile(r"""src=(["'])cid:([^"']*)\1""", re.I)


def _placeholders(html: str) -> str:
    """``src="cid:logo"`` becomes a grey box saying "cid:logo": the files come with the
    message, not with the template, and the console's policy loads nothing else."""

    def box(match: re.Match[str]) -> str:
        label = html_escape(f"cid:{match.group(2)}")
        svg = (
            "<svg xmlns='http://www.w3.org/2000/svg' width='160' height='48'>"
            "<rect width='100%' height='100%' fill='#e5e7eb'/>"
            f"<text x='8' y='29' font-family='sans-serif' font-size='13' fill='#4b5563'>{label}</text></svg>"
        )
        return f'src="data:image/svg+xml,{quote(svg)}"'

    return _CID_SOURCE.sub(box, html)


def _form_of(found: Version) -> Form:
    return Form(
        found.template.name,
        found.subject,
        found.text,
        found.html,
        json.dumps(found.sample_variables or {}, indent=2, ensure_ascii=False),
    )


def templates(request: HttpRequest) -> HttpResponse:
    """The list; a POST creates a template (version 1) and opens its editor."""
    form = Form("", "", None, "", '{\n  "name": "Ann"\n}')
    error = ""
    if request.method == "POST":
        form = _form(request)
        try:
            store.save(form.name, _draft(form), by=_by(request), create=True)
        except (store.InvalidTemplate, ValueError) as exc:
            error = said(exc)
        else:
            messages.success(request, _("Template %(name)s saved as version 1.") % {"name": form.name})
            return redirect("console:template", name=form.name)
    rows = []
    for template in Template.objects.order_by("name"):
        newest = Version.objects.filter(template=template).order_by("-number").first()
        if newest is not None:
            rows.append((template, newest))
    context = {"rows": rows, "form": form, "error": error, "preview": _preview(form), "widths": WIDTHS}
    return render(request, "console/templates.html", context)


def template(request: HttpRequest, name: str) -> HttpResponse:
    """The editor: a POST saves a new version."""
    number = request.GET.get("version")
    found = store.version(name, int(number)) if number and number.isdigit() else store.latest(name)
    if found is None:
        raise Http404("no such template")
    form = _form_of(found)
    error = ""
    if request.method == "POST":
        form = _form(request, name)
        try:
            saved = store.save(name, _draft(form), by=_by(request), create=False)
        except (store.InvalidTemplate, ValueError) as exc:
            error = said(exc)
        else:
            messages.success(
                request,
                _("Template %(name)s saved as version %(number)s.") % {"name": name, "number": saved.number},
            )
            return redirect("console:template", name=name)
    versions = list(Version.objects.filter(template=found.template).order_by("-number"))
    context = {
        "template": found.template,
        "shown": found,
        "newest": versions[0] if versions else found,
        "versions": versions,
        "form": form,
        "error": error,
        "preview": _preview(form),
        "widths": WIDTHS,
    }
    return render(request, "console/template.html", context)


def template_preview(request: HttpRequest) -> HttpResponse:
    """The live preview of the editor's form as it stands (nothing is saved)."""
    if request.method != "POST":
        return redirect("console:templates")
    return render(
        request,
        "console/partials/template_preview.html",
        {"preview": _preview(_form(request)), "widths": WIDTHS},
    )


def template_diff(request: HttpRequest, name: str) -> HttpResponse:
    """``?a=1&b=3``: what changed from version a to version b, part by part (without
    them: from the version before the newest to the newest)."""
    newest = store.latest(name)
    if newest is None:
        raise Http404("no such template")
    b_number = _number(request.GET.get("b"), newest.number)
    a_number = _number(request.GET.get("a"), max(1, b_number - 1))
    a, b = store.version(name, a_number), store.version(name, b_number)
    if a is None or b is None:
        raise Http404("no such version")
    parts = []
    for part in ("subject", "text", "html"):
        before, after = getattr(a, part) or "", getattr(b, part) or ""
        lines = list(
            difflib.unified_diff(
                before.splitlines(),
                after.splitlines(),
                f"version {a.number}",
                f"version {b.number}",
                lineterm="",
            )
        )
        parts.append((part, lines))
    context = {"template": a.template, "a": a, "b": b, "parts": parts}
    return render(request, "console/template_diff.html", context)


def template_send_test(request: HttpRequest, name: str) -> HttpResponse:
    """The newest version, rendered with its sample variables, to one address."""
    if request.method != "POST":
        return redirect("console:template", name=name)
    found = store.latest(name)
    if found is None:
        raise Http404("no such template")
    to = request.POST.get("to", "").strip() or str(getattr(request.user, "email", ""))
    outgoing = Outgoing(
        to=[to], template=name, variables=dict(found.sample_variables or {}), tags=["template-test"]
    )
    try:
        sent = enqueue(outgoing, source="console")
    except Refused as refused:
        messages.error(request, _("Not sent: %(reason)s") % {"reason": refused.message})
    else:
        messages.success(
            request,
            _("Test of %(name)s version %(number)s queued for %(to)s (%(id)s).")
            % {"name": name, "number": found.number, "to": to, "id": sent.public_id},
        )
    return redirect("console:template", name=name)


def template_delete(request: HttpRequest, name: str) -> HttpResponse:
    """Every version goes (as ``DELETE /api/v1/templates/{name}``); messages rendered from
    it keep their text and timeline. A GET deletes nothing."""
    if request.method != "POST":
        return redirect("console:template", name=name)
    if store.delete(name):
        log.info("template deleted", extra={"by": getattr(request.user, "pk", None), "template": name})
        messages.success(request, _("Template %(name)s deleted with all its versions.") % {"name": name})
    else:
        messages.error(request, _("There is no template %(name)s.") % {"name": name})
    return redirect("console:templates")


def _number(given: str | None, default: int) -> int:
    return int(given) if given and given.isdigit() else default


def _draft(form: Form) -> store.TemplateDraft:
    try:
        sample = _sample(form.sample)
    except ValueError as exc:
        raise store.InvalidTemplate("sample_variables", said(exc)) from None
    return store.TemplateDraft(form.subject, form.text, form.html, sample)


def _by(request: HttpRequest) -> str:
    return f"console user {getattr(request.user, 'email', '') or getattr(request.user, 'username', '')}"
