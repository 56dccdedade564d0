"""Bounces: the mail that came back to the VERP return paths (issue #15), newest first,
filtered by outcome. What was applied links to its message's timeline; what is kept for
the operator (a bounce for a message the outbox no longer has, one without a return path,
one nobody could read) shows the remote server's words and the reader's note. The mail
itself is not shown here: it quotes the original message's body."""

from __future__ import annotations

from typing import Final

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from postwarden.bounces.intake import tallies
from postwarden.bounces.models import Bounce, BounceOutcome
from postwarden.console import keyset

PAGE_SIZE: Final = 50


def bounces(request: HttpRequest) -> HttpResponse:
    outcome = request.GET.get("outcome", "")
    rows = Bounce.objects.select_related("message").defer("raw")
    if outcome in BounceOutcome.values:
        rows = rows.filter(outcome=outcome)
    else:
        outcome = ""
    page = keyset.page(rows, keyset.Cursor.decode(request.GET.get("after")), PAGE_SIZE, field="received_at")
    counts = tallies()
    context = {
        "page": page,
        "outcomes": BounceOutcome.choices,
        "outcome": outcome,
        "forged": counts.get("forged", 0),
        "query": f"outcome={outcome}" if outcome else "",
    }
    return render(request, "console/bounces.html", context)
