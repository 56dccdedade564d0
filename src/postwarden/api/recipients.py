"""``GET /api/v1/recipients/suggest``: who an application may suggest when someone types a
recipient, honouring the console's recipient-suggestion mode (Metabase's choice of all
users / users in the same groups / nobody).

Suggestions are members (people with accounts in the application), never addresses
from the outbox: an autocomplete that offered every address ever mailed would leak
who else receives mail.
"""

from __future__ import annotations

from typing import Final

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict

from postwarden.accounts.models import Member
from postwarden.accounts.suggestions import suggestion_mode
from postwarden.api import params
from postwarden.api.auth import scope
from postwarden.api.errors import errors

router = Router(tags=["recipients"])

MAX_LIMIT: Final = 50


class SuggestQuery(Schema):
    #: what the person typed: matched against the start of the address and anywhere in the name
    q: str = ""
    #: the member the suggestions are for (required in the "groups" mode)
    for_: str = Field("", alias="for")
    limit: int = params.limit(10, MAX_LIMIT)

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class Suggestion(Schema):
    email: str
    name: str


class Suggestions(Schema):
    mode: str
    suggestions: list[Suggestion]


def _matching(q: str) -> QuerySet[Member]:
    rows = Member.objects.all()
    q = q.strip()
    if q:
        rows = rows.filter(Q(email__istartswith=q) | Q(name__icontains=q))
    return rows


@router.get(
    "/suggest", response={200: Suggestions, **errors(400)}, auth=scope("read"), summary="Suggest recipients"
)
def suggest(request: HttpRequest, query: Query[SuggestQuery]) -> Suggestions:
    """Members matching ``q``, at most ``limit``. Mode ``none`` answers an empty list;
    mode ``groups`` only members sharing a group with ``for`` (and 400 without ``for``);
    422 naming ``limit`` outside 1…50 (api/params.py)."""
    mode = suggestion_mode()
    asking = query.for_.strip().lower()
    if mode == "none":
        return Suggestions(mode=mode, suggestions=[])
    rows = _matching(query.q)
    if mode == "groups":
        if not asking:
            raise HttpError(400, "the recipient-suggestion mode is 'groups': give for=<member email>")
        rows = rows.filter(groups__members__email=asking).distinct()
    if asking:
        rows = rows.exclude(email=asking)
    found = rows.order_by("email").values_list("email", "name")[: query.limit]
    return Suggestions(mode=mode, suggestions=[Suggestion(email=e, name=n) for e, n in found])
