"""Suppressions: addresses mail is not sent to. List, search, add, remove, export CSV,
each with its reason and the event that caused it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Final

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from postwarden.console import keyset
from postwarden.console.forms.admin import SuppressionForm
from postwarden.console.words import word
from postwarden.outbox import sources
from postwarden.outbox import suppressions as store
from postwarden.outbox.models import Suppression

log = logging.getLogger("postwarden.console.suppressions")
PAGE_SIZE: Final = 50
CSV_CHUNK: Final = 2000


def _filtered(request: HttpRequest) -> QuerySet[Suppression]:
    reason = request.GET.get("reason", "")
    return store.search(
        request.GET.get("q", ""),
        reason=reason if reason in store.REASONS else None,
        include_expired=request.GET.get("expired") == "1",
    )


def suppressions(request: HttpRequest) -> HttpResponse:
    form = SuppressionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        row = store.add(
            form.cleaned_data["address"],
            store.MANUAL,
            detail=form.cleaned_data["detail"],
            source=sources.person(getattr(request.user, "email", "")),
        )
        log.info("suppression added", extra={"by": request.user.pk, "reason": row.reason})
        messages.success(
            request,
            _("%(address)s is suppressed (%(reason)s).")
            % {"address": row.address, "reason": word(row.reason)},
        )
        return redirect("console:suppressions")
    rows = _filtered(request).select_related("event__message")
    page = keyset.page(rows, keyset.Cursor.decode(request.GET.get("after")), PAGE_SIZE)
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "page": page,
        "form": form,
        "reasons": store.REASONS,
        "q": request.GET.get("q", ""),
        "reason": request.GET.get("reason", ""),
        "expired": request.GET.get("expired") == "1",
        "query": query.urlencode(),
        "now": timezone.now(),
    }
    return render(request, "console/suppressions.html", context)


def suppression_remove(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        address = request.POST.get("address", "")
        if store.remove(address):
            log.info("suppression removed", extra={"by": request.user.pk})
            messages.success(request, _("%(address)s is no longer suppressed.") % {"address": address})
        else:
            messages.warning(request, _("%(address)s was not suppressed.") % {"address": address})
    return redirect("console:suppressions")


def suppressions_csv(request: HttpRequest) -> StreamingHttpResponse:
    rows = _filtered(request)
    response = StreamingHttpResponse(_csv_chunks(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="suppressions-{stamp}.csv"'
    return response


def _csv_chunks(rows: QuerySet[Suppression]) -> Iterator[str]:
    batch: list[Suppression] = []
    first = True
    for row in rows.iterator(chunk_size=CSV_CHUNK):
        batch.append(row)
        if len(batch) == CSV_CHUNK:
            yield _csv(batch, first)
            batch, first = [], False
    if batch or first:
        yield _csv(batch, first)


def _csv(batch: list[Suppression], with_header: bool) -> str:
    text = store.export_csv(batch)
    return text if with_header else text.split("\n", 1)[1]
