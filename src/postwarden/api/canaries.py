"""``/api/v1/canaries``: canary mailboxes and what their runs found (docs/canaries.md).

- ``POST`` (scope ``admin``): register a mailbox (address, IMAP host, port, security
  none|ssl|starttls, user, password, how often: ``interval_minutes``, default 60, at
  least 5). The password is sealed at rest and never answered: it shows as ``"set"``.
- ``GET`` (scope ``read``): every canary with its status and latest finished run.
- ``POST /{id}/run`` (scope ``send``): run it now (202); 409 while a run is under way.
- ``GET /{id}/runs`` (scope ``read``): its runs, newest first: ``state`` (waiting, arrived,
  junk, other, missing, unreachable), ``folder``, the times (queued, accepted upstream,
  arrived), the receiving side's ``spf``/``dkim``/``dmarc`` and the headers that matter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from django.http import HttpRequest
from ninja import Path, Query, Router, Status
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, Field

from postwarden.api import params
from postwarden.api.auth import scope
from postwarden.api.errors import errors
from postwarden.api.message_schemas import ErrorOut
from postwarden.canaries import store
from postwarden.canaries.models import Canary, CanaryRun
from postwarden.canaries.status import status_of

router = Router(tags=["canaries"])

MAX_LIMIT: Final = 500
CanaryId = Annotated[int, Path(ge=1, le=params.MAX_NUMBER)]


class CanaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the mailbox the canary mail is sent to
    address: str
    imap_host: str
    #: omitted: 993 for ssl, 143 otherwise
    imap_port: int | None = Field(None, ge=1, le=65535)
    imap_security: Literal["none", "ssl", "starttls"] = "ssl"
    imap_user: str
    imap_password: str
    #: how often a run starts (minutes, at least 5)
    interval_minutes: int = Field(store.DEFAULT_INTERVAL, ge=store.MIN_INTERVAL, le=store.MAX_INTERVAL)
    #: a label for lists and /metrics; omitted: the address's domain
    name: str = ""
    #: a canary not found this long after it was queued is missing
    deadline_minutes: int = Field(store.DEFAULT_DEADLINE, ge=1, le=store.MAX_DEADLINE)
    #: an arrival later than this is reported slow
    slow_seconds: int = Field(store.DEFAULT_SLOW_SECONDS, ge=1, le=store.MAX_DEADLINE * 60)
    #: delete the canary mail once found
    delete_found: bool = True
    enabled: bool = True


class RunOut(BaseModel):
    id: int
    canary: int
    #: waiting, arrived (inbox), junk, other, missing, unreachable
    state: str
    #: schedule or manual
    trigger: str
    #: the folder it was found in, as the server names it
    folder: str
    #: inbox, junk or other; "" when not found
    placement: str
    queued_at: datetime
    #: when the sending server (or provider) accepted it
    accepted_at: datetime | None
    #: when a look found it (this host's clock)
    arrived_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    #: queued → found, seconds, on this host's clock
    arrival_seconds: float | None
    #: the receiving side's verdicts ("pass", "fail", "softfail" …; "" when not reported)
    spf: str
    dkim: str
    dmarc: str
    #: the Authentication-Results header(s) the verdicts were read from
    auth_results: str
    hops: int | None
    copies: int
    #: found after the deadline by a later look (the run stays missing)
    late_arrived_at: datetime | None
    late_placement: str
    #: when the receiving server stored it, by its own clock
    server_received_at: datetime | None
    #: the canary mail in the outbox (GET /api/v1/messages/{id})
    message_id: str
    #: why it ended so, in words (the outbox's reason, the IMAP server's words)
    detail: str
    #: the headers that matter, one "Name: value" per line
    headers: str


class CanaryOut(BaseModel):
    id: int
    name: str
    address: str
    imap_host: str
    imap_port: int
    imap_security: str
    imap_user: str
    #: "set": the password itself is never answered
    imap_password: Literal["set", "empty"]
    interval_minutes: int
    deadline_minutes: int
    slow_seconds: int
    delete_found: bool
    enabled: bool
    next_run_at: datetime
    #: ok, junk, auth_failed, slow, missing, unreachable, running, never_run, disabled
    status: str
    #: the status in words
    summary: str
    last_run: RunOut | None


class CanaryList(BaseModel):
    count: int
    items: list[CanaryOut]


class RunPage(BaseModel):
    count: int
    limit: int
    offset: int
    items: list[RunOut]


class RunRequested(BaseModel):
    canary: int
    #: true: the next pass of the monitor starts a run
    requested: bool


class RunsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = params.limit(50, MAX_LIMIT)
    offset: int = params.offset()


def run_out(run: CanaryRun) -> RunOut:
    return RunOut(
        id=run.pk,
        canary=run.canary_id,
        state=run.state,
        trigger=run.trigger,
        folder=run.folder,
        placement=run.placement,
        queued_at=run.started_at,
        accepted_at=run.accepted_at,
        arrived_at=run.arrived_at,
        finished_at=run.finished_at,
        deadline_at=run.deadline_at,
        arrival_seconds=round(run.arrival_seconds, 3) if run.arrival_seconds is not None else None,
        spf=run.spf,
        dkim=run.dkim,
        dmarc=run.dmarc,
        auth_results=run.auth_results,
        hops=run.hops,
        copies=run.copies,
        late_arrived_at=run.late_arrived_at,
        late_placement=run.late_placement,
        server_received_at=run.server_received_at,
        message_id=run.message_public_id,
        detail=run.detail,
        headers=run.headers,
    )


def canary_out(canary: Canary) -> CanaryOut:
    status = status_of(canary)
    return CanaryOut(
        id=canary.pk,
        name=canary.name,
        address=canary.address,
        imap_host=canary.imap_host,
        imap_port=canary.imap_port,
        imap_security=canary.imap_security,
        imap_user=canary.imap_user,
        imap_password="set" if canary.imap_password else "empty",
        interval_minutes=canary.interval_minutes,
        deadline_minutes=canary.deadline_minutes,
        slow_seconds=canary.slow_seconds,
        delete_found=canary.delete_found,
        enabled=canary.enabled,
        next_run_at=canary.next_run_at,
        status=status.code,
        summary=status.summary,
        last_run=run_out(canary.last_run) if canary.last_run is not None else None,
    )


def _canary(canary_id: int) -> Canary:
    canary = Canary.objects.select_related("last_run").filter(pk=canary_id).first()
    if canary is None:
        raise HttpError(404, f"no canary {canary_id}")
    return canary


@router.post(
    "",
    response={201: CanaryOut, 400: ErrorOut},
    auth=scope("admin"),
    summary="Register a canary mailbox",
)
def create_canary(request: HttpRequest, body: CanaryIn) -> Status[CanaryOut | ErrorOut]:
    """201 with the canary (its first run is due now). 400 names the field: an invalid
    address, host or name, a name that exists."""
    try:
        canary = store.create(store.CanaryInput(**body.model_dump()))
    except store.InvalidCanary as invalid:
        return Status(400, ErrorOut(detail=invalid.message, field=invalid.field))
    return Status(201, canary_out(canary))


@router.get("", response=CanaryList, auth=scope("read"), summary="List canary mailboxes")
def list_canaries(request: HttpRequest) -> CanaryList:
    """Every canary, by name, with its status and latest finished run."""
    items = [canary_out(c) for c in Canary.objects.select_related("last_run").order_by("name")]
    return CanaryList(count=len(items), items=items)


@router.post(
    "/{canary_id}/run",
    response={202: RunRequested, **errors(404, 409)},
    auth=scope("send"),
    summary="Run a canary now",
)
def run_canary(request: HttpRequest, canary_id: CanaryId) -> Status[RunRequested]:
    """202: the monitor's next pass starts a run (``GET /{id}/runs`` shows it). 409 while a
    run is under way; 404 for an unknown id."""
    canary = _canary(canary_id)
    if not store.request_run(canary):
        raise HttpError(409, f"canary {canary.name} has a run under way; wait for it to end")
    return Status(202, RunRequested(canary=canary.pk, requested=True))


@router.get(
    "/{canary_id}/runs", response={200: RunPage, **errors(404)}, auth=scope("read"), summary="A canary's runs"
)
def list_runs(request: HttpRequest, canary_id: CanaryId, query: Query[RunsQuery]) -> RunPage:
    """Newest first, ``limit``/``offset`` paginated. 404 for an unknown id."""
    canary = _canary(canary_id)
    runs = canary.runs.order_by("-started_at", "-id")
    page = runs[query.offset : query.offset + query.limit]
    return RunPage(
        count=runs.count(), limit=query.limit, offset=query.offset, items=[run_out(r) for r in page]
    )
