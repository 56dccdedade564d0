"""Captured mail: the ``capture`` transport's inbox (a Mailpit-like list), each mail with
its text, its HTML in a sandboxed frame, its headers and its raw source."""

from __future__ import annotations

from typing import Final

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from postwarden.console import mailview
from postwarden.transports.capture import Captured, count_captured, list_captured, read_captured

PAGE_SIZE: Final = 50


def captured(request: HttpRequest) -> HttpResponse:
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    total = count_captured()
    items = list_captured(PAGE_SIZE, (page - 1) * PAGE_SIZE)
    context = {
        "items": items,
        "total": total,
        "page": page,
        "has_next": page * PAGE_SIZE < total,
        "has_previous": page > 1,
        "now": timezone.now(),
    }
    return render(request, "console/captured.html", context)


def _load(captured_id: str) -> tuple[Captured, bytes]:
    found = read_captured(captured_id)
    if found is None:
        raise Http404("No such captured mail (it may have been pruned: only the newest are kept).")
    return found


def captured_message(request: HttpRequest, captured_id: str) -> HttpResponse:
    item, raw = _load(captured_id)
    return render(request, "console/captured_message.html", {"item": item, "mail": mailview.parse(raw)})


def captured_html(request: HttpRequest, captured_id: str) -> HttpResponse:
    return mailview.html_response(mailview.parse(_load(captured_id)[1]).html)


def captured_attachment(request: HttpRequest, captured_id: str, index: int) -> HttpResponse:
    return mailview.attachment_response(_load(captured_id)[1], index)


def captured_raw(request: HttpRequest, captured_id: str) -> HttpResponse:
    return mailview.raw_response(_load(captured_id)[1], captured_id)
