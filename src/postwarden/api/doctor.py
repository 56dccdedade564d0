"""``POST /api/v1/doctor``: run the doctor and get the JSON of docs/spec/doctor.md.

Scope: ``read`` runs the probe (no mail is sent, nothing is stored, secrets appear only as
"set"/"empty"). Choosing the recipient (``to``) or sending a real test mail (``send``)
needs the ``send`` scope as well: a read-only key must not be able to make Postwarden
mail anyone, nor use the RCPT probe to test whether arbitrary addresses exist. The DNS
resolver is the configured one (POSTWARDEN_DNS_SERVER), never chosen by the caller.
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict, Field

from postwarden.accounts.models import ApiKey, Scope
from postwarden.api.auth import scope
from postwarden.api.errors import errors
from postwarden.core.doctor.context import MAX_TIMEOUT, Options
from postwarden.core.doctor.model import STAGE_ORDER
from postwarden.doctor.report import report_json

router = Router(tags=["doctor"])


class DoctorIn(Schema):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(
        None, description="probe recipient (default TEST_EMAIL, else From); needs scope send"
    )
    # strict: JSON true or false, not 0/1 or "yes" (the schema says boolean, and this one mails)
    send: bool = Field(False, strict=True, description="send a real test mail; needs scope send")
    only: list[str] = Field(
        default_factory=list,
        description=f"stages to check: {', '.join(STAGE_ORDER)}",
        # the schema names the stages; run_doctor answers 422 for any other word
        json_schema_extra={"items": {"type": "string", "enum": list(STAGE_ORDER)}},
    )
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT, description="seconds per network step")


class FindingOut(Schema):
    code: str
    severity: Literal["error", "warning", "info"]
    stage: str
    title: str
    evidence: str
    steps: list[str]
    explanation: str | None = None


class CheckOut(Schema):
    id: str
    status: Literal["pass", "warn", "fail", "skip"]
    duration_ms: int
    detail: str


class TranscriptOut(Schema):
    dir: Literal["client", "server"]
    line: str


class DoctorOut(Schema):
    ok: bool
    root_cause: str | None
    duration_ms: int
    settings: dict[str, Any]
    findings: list[FindingOut]
    checks: list[CheckOut]
    transcript: list[TranscriptOut]
    notes: list[str] = Field(default_factory=list)


@router.post("", response={200: DoctorOut, **errors(403)}, auth=scope(Scope.READ), summary="Run the doctor")
def run_doctor(request: HttpRequest, body: DoctorIn) -> dict[str, Any]:
    key: ApiKey = request.api_key  # type: ignore[attr-defined]  # set by api.auth
    if (body.to or body.send) and not key.allows(Scope.SEND):
        raise HttpError(403, "choosing the recipient or sending a test mail needs an API key with scope send")
    unknown = sorted(set(body.only) - set(STAGE_ORDER))
    if unknown:
        raise HttpError(422, f"only: unknown stage {', '.join(unknown)} (stages: {', '.join(STAGE_ORDER)})")
    options = Options(to=body.to, send=body.send, only=frozenset(body.only), timeout=body.timeout)
    return report_json(options)
