"""Captured mail: the ``capture`` transport's inbox (a Mailpit-like list), each mail with
its text, its HTML in a sandboxed frame, its headers and its raw source."""

from __future__ import annotations

from typing import Final

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from postwarden.console import mail_display
from postwarden.console.access import reads_bodies
from postwarden.transports.capture import Captured, count_captured, list_captured, read_captured

PAGE_SIZE: Final = 50


def captured(request: HttpRequest) -> HttpResponse:
    """The list, newest first. The first page asks again every few seconds (htmx) with the
    newest id it shows: nothing new is a 204 (htmx keeps the page as it is), anything new
    is the list's rows again, so a new capture appears without a reload."""
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    items = list_captured(PAGE_SIZE, (page - 1) * PAGE_SIZE)
    newest = items[0].id if items and page == 1 else ""
    live = request.headers.get("HX-Request") == "true" and "shown" in request.GET
    if live and request.GET["shown"] == newest:
        return HttpResponse(status=204)
    total = count_captured()
    context = {
        "items": items,
        "total": total,
        "page": page,
        "newest": newest,
        "live": live,
        "has_next": page * PAGE_SIZE < total,
        "has_previous": page > 1,
        "now": timezone.now(),
    }
    return render(
        request, "console/partials/captured_rows.html" if live else "console/captured.html", context
    )


def _load(captured_id: str) -> tuple[Captured, bytes]:
    found = read_captured(captured_id)
    if found is None:
        raise Http404("No such captured mail (it may have been pruned: only the newest are kept).")
    return found


def captured_message(request: HttpRequest, captured_id: str) -> HttpResponse:
    item, raw = _load(captured_id)
    mail = mail_display.parse(raw)
    context = {
        "item": item,
        "mail": mail,
        **mail_display.tabs_context(mail, request.GET.get("view", ""), reads_bodies(request.user)),
    }
    return render(request, "console/captured_message.html", context)


def captured_html(request: HttpRequest, captured_id: str) -> HttpResponse:
    return mail_display.html_response(mail_display.parse(_load(captured_id)[1]).html)


def captured_attachment(request: HttpRequest, captured_id: str, index: int) -> HttpResponse:
    return mail_display.attachment_response(_load(captured_id)[1], index)


def captured_raw(request: HttpRequest, captured_id: str) -> HttpResponse:
    return mail_display.raw_response(_load(captured_id)[1], captured_id)
