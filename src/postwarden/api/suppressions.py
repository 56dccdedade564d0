"""``/api/v1/suppressions``: list, add and remove addresses mail is not sent to.

- ``GET`` (scope ``read``): search by address fragment and reason, paginated with
  ``limit``/``offset``; expired entries are left out unless ``include_expired``.
- ``POST`` (scope ``send``): add an address with reason ``manual``; the source is the API
  key's name. An application records its own unsubscribes this way.
- ``DELETE /{address}`` (scope ``send``): remove it. Lifting a *complaint* needs the
  ``admin`` scope: mailing someone who reported spam again is what gets a sender blocked,
  so it takes a deliberate decision, not an application's routine call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from django.http import HttpRequest
from email_validator import EmailNotValidError, validate_email
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict

from postwarden.accounts.models import ApiKey, Scope
from postwarden.api import params
from postwarden.api.auth import scope
from postwarden.api.errors import errors
from postwarden.outbox import sources, suppressions
from postwarden.outbox.models import Suppression

router = Router(tags=["suppressions"])

MAX_LIMIT: Final = 500


class SuppressionOut(Schema):
    address: str
    #: hard_bounce, complaint, unsubscribe, manual, failures
    reason: str
    detail: str
    #: where it came from: "sendgrid event …", "api key <name>", "console: …"
    source: str
    created_at: datetime
    #: null: never expires
    expires_at: datetime | None


class SuppressionPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[SuppressionOut]


class SuppressionListQuery(Schema):
    #: part of the address, case-insensitive
    q: str = ""
    reason: str | None = None
    include_expired: bool = False
    limit: int = params.limit(50, MAX_LIMIT)
    offset: int = params.offset()

    model_config = ConfigDict(extra="forbid")


class SuppressionIn(Schema):
    address: str
    detail: str = ""
    #: when it stops applying; omitted: never
    expires_at: datetime | None = None

    model_config = ConfigDict(extra="forbid")


def _out(row: Suppression) -> SuppressionOut:
    return SuppressionOut(
        address=row.address,
        reason=row.reason,
        detail=row.detail,
        source=row.source,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _key(request: HttpRequest) -> ApiKey:
    key: ApiKey = request.api_key  # type: ignore[attr-defined]  # set by api.auth
    return key


def _address(text: str) -> str:
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise HttpError(400, f"invalid address {text!r}: {exc}") from None


@router.get(
    "", response={200: SuppressionPage, **errors(400)}, auth=scope("read"), summary="List suppressions"
)
def list_suppressions(request: HttpRequest, query: Query[SuppressionListQuery]) -> SuppressionPage:
    """Newest first. 400 for an unknown reason; 422 naming ``limit`` outside 1…500 or
    ``offset`` outside 0…10⁹ (api/params.py)."""
    if query.reason is not None and query.reason not in suppressions.REASONS:
        raise HttpError(400, f"unknown reason {query.reason!r}; one of {', '.join(suppressions.REASONS)}")
    rows = suppressions.search(query.q, reason=query.reason, include_expired=query.include_expired)
    page = rows[query.offset : query.offset + query.limit]
    return SuppressionPage(
        count=rows.count(), limit=query.limit, offset=query.offset, items=[_out(r) for r in page]
    )


@router.post(
    "",
    response={200: SuppressionOut, 201: SuppressionOut, **errors(400)},
    auth=scope("send"),
    summary="Suppress an address",
)
def add_suppression(request: HttpRequest, body: SuppressionIn) -> Status[SuppressionOut]:
    """201 with the new entry; 200 with the existing one when the address was already
    suppressed (a complaint or an unsubscribe is kept as it is). 400 for an invalid address."""
    address = _address(body.address)
    existed = Suppression.objects.filter(address=address).exists()
    row = suppressions.add(
        address,
        suppressions.MANUAL,
        detail=body.detail,
        source=sources.api_key(_key(request).name),
        expires_at=body.expires_at,
    )
    return Status(200 if existed else 201, _out(row))


@router.delete(
    "/{address}", response={204: None, **errors(403, 404)}, auth=scope("send"), summary="Remove a suppression"
)
def delete_suppression(request: HttpRequest, address: str) -> Status[None]:
    """204 when removed; 404 when the address is not suppressed; 403 for a complaint
    without the ``admin`` scope."""
    row = Suppression.objects.filter(address=suppressions.normalize(address)).first()
    if row is None:
        raise HttpError(404, f"{address} is not suppressed")
    if row.reason == suppressions.COMPLAINT and not _key(request).allows(Scope.ADMIN):
        raise HttpError(403, f"{row.address} complained (reported spam); removing that needs an admin key")
    suppressions.remove(row.address)
    return Status(204, None)
