"""Provider transports (SES, SendGrid, Mailgun, Postmark, Resend, Mandrill) over
django-anymail's backends (docs/style.md §9: we do not rewrite ESP clients).

anymail sends synchronously (requests, boto3), so each send runs in a small bounded
thread pool; each pool thread keeps its own open backend, which reuses its HTTP
connection (a requests Session is not safe to share between threads).

What a result says (the retry policy in ``outbox/retry.py`` decides, not this module):

- ``http_status`` None, outcome FAILED: no HTTP answer (connection refused, DNS, timeout) —
  transient.
- ``http_status`` 429 or 5xx: the provider is busy or broken — transient, unless
  ``provider_error`` names the error (Mandrill's 500 with ``{"status": "error", "name": …}``,
  where the name tells a bad key from an outage).
- ``http_status`` other 4xx: the provider refused the request (bad key, unverified
  sender, invalid payload) — permanent.
- ``http_status`` 2xx with outcome FAILED: the provider accepted the request but refused
  this recipient (Mandrill ``rejected``/``invalid`` with its reject_reason, Postmark
  inactive recipient) — permanent.
- outcome FAILED with ``refused_before_sending``: anymail refused the message before any
  request (an address it cannot encode …) — permanent.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.core.mail import EmailMessage

from postwarden.core.config.model import Provider, ProviderSettings, Settings
from postwarden.core.doctor.redact import Redactor
from postwarden.transports import esp_backends, esp_messages
from postwarden.transports.base import Outcome, RecipientResult, TransportDelivery, one_at_a_time

#: concurrent API requests per worker process; providers rate-limit per account (the
#: outbox's POSTWARDEN_SEND_RATE paces across workers), so more threads buy little
POOL_SIZE: Final = 4
#: longest provider text kept in a result (error bodies can be whole HTML pages)
MAX_DETAIL: Final = 2000
_ACCEPTED: Final = frozenset({"sent", "queued", "scheduled", "unknown"})


class EspTransport:
    """A :class:`~postwarden.transports.base.Transport` for one provider's API: one request
    a call (no batching), with the structured parts, from the account's own sender."""

    batches = False
    needs_parts = True
    takes_return_paths = False
    server: tuple[str, int] | None = None

    def __init__(self, provider: ProviderSettings, *, max_recipients: int = 0, pool_size: int = POOL_SIZE):
        spec = esp_backends.check(provider)
        self.name: str = provider.name.value
        self.max_recipients: int = (
            min(max_recipients, spec.max_recipients) if max_recipients else (spec.max_recipients)
        )
        self.concurrency: int = pool_size
        self._provider = provider
        self._pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix=f"esp-{self.name}")
        self._local = threading.local()
        self._backends: list[Any] = []
        self._lock = threading.Lock()
        self._redactor = Redactor(s.reveal() for s in provider.secrets.values() if s.is_set)

    async def send(self, delivery: TransportDelivery) -> Sequence[RecipientResult]:
        """One result per recipient; never raises for what the provider said or for a
        network failure. Raises EspConfigurationError for unusable settings."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.send_sync, delivery)

    async def send_many(self, deliveries: Sequence[TransportDelivery]) -> list[Sequence[RecipientResult]]:
        return await one_at_a_time(self, deliveries)

    def send_sync(self, delivery: TransportDelivery) -> list[RecipientResult]:
        """The same as :meth:`send`, in the calling thread."""
        if self._provider.name is Provider.SES:
            calls: list[tuple[EmailMessage, tuple[str, ...]]] = [
                (esp_messages.raw_message(delivery), delivery.recipients)
            ]
        else:
            parts = (
                esp_messages.with_files(delivery.parts, delivery.raw)
                if delivery.parts is not None
                else esp_messages.parts_from_raw(delivery.raw)
            )
            calls = [
                (esp_messages.api_message(parts, call), call.recipients)
                for call in esp_messages.plan_calls(delivery.recipients, parts)
            ]
        results: list[RecipientResult] = []
        for message, recipients in calls:
            results += self._send_one(message, recipients)
        return results

    def _backend(self) -> Any:
        backend = getattr(self._local, "backend", None)
        if backend is None:
            backend = esp_backends.make_backend(self._provider)
            backend.open()
            self._local.backend = backend
            with self._lock:
                self._backends.append(backend)
        return backend

    def _send_one(self, message: EmailMessage, recipients: tuple[str, ...]) -> list[RecipientResult]:
        backend = self._backend()
        started = time.monotonic()
        try:
            backend.send_messages([message])
        except AnymailRecipientsRefused:
            pass  # only without ignore_recipient_status; the statuses are on the message
        except AnymailAPIError as error:
            ms = _ms(started)
            status, detail = _describe_api_error(error)
            name = _error_name(getattr(error.response, "text", None))
            return [
                self._result(r, Outcome.FAILED, detail, status, duration_ms=ms, provider_error=name)
                for r in recipients
            ]
        except AnymailError as error:
            ms = _ms(started)
            detail = f"not sent: {error.args[0] if error.args else error}"
            return [
                self._result(r, Outcome.FAILED, detail, None, duration_ms=ms, refused_before_sending=True)
                for r in recipients
            ]
        return self._statuses(message, recipients, _ms(started))

    def _statuses(self, message: EmailMessage, recipients: tuple[str, ...], ms: int) -> list[RecipientResult]:
        status = getattr(message, "anymail_status", None)
        response = getattr(status, "esp_response", None)
        http_status, body = _response_facts(response)
        by_address = {k.lower(): v for k, v in (getattr(status, "recipients", None) or {}).items()}
        refusals = _refusals(body)
        results = []
        for address in recipients:
            one = by_address.get(address)
            state = getattr(one, "status", None) or "unknown"
            pmid = str(getattr(one, "message_id", None) or "")
            if state in _ACCEPTED:
                results.append(self._result(address, Outcome.SENT, _text(body), http_status, pmid, ms))
            else:
                detail = refusals.get(address) or f"{state}: {_text(body)}"
                results.append(self._result(address, Outcome.FAILED, detail, http_status, pmid, ms))
        return results

    def _result(
        self,
        address: str,
        outcome: Outcome,
        detail: str,
        http_status: int | None,
        provider_message_id: str = "",
        duration_ms: int = 0,
        *,
        refused_before_sending: bool = False,
        provider_error: str = "",
    ) -> RecipientResult:
        return RecipientResult(
            address=address,
            outcome=outcome,
            stage="api",
            detail=self._scrub(detail),
            http_status=http_status,
            provider_message_id=provider_message_id,
            duration_ms=duration_ms,
            refused_before_sending=refused_before_sending,
            provider_error=provider_error,
        )

    def _scrub(self, text: str) -> str:
        # Provider error bodies sometimes echo the credential they refused; a secret must
        # never reach an Attempt row, a log line or the API (docs/spec/config.md).
        # (the worker redacts again when it stores the attempt, with every secret it knows)
        return self._redactor.text(text)[:MAX_DETAIL]

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            backends, self._backends = self._backends, []
        for backend in backends:
            backend.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        return body.strip()
    return json.dumps(body, default=str, ensure_ascii=False)


def _response_facts(response: Any) -> tuple[int | None, Any]:
    """(HTTP status, body) of a requests.Response or a boto3 response dict."""
    if response is None:
        return None, None
    if isinstance(response, dict):  # boto3: {"MessageId": …, "ResponseMetadata": {…}}
        meta = response.get("ResponseMetadata") or {}
        body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        return meta.get("HTTPStatusCode"), body
    text = getattr(response, "text", "")
    try:
        return response.status_code, json.loads(text)
    except ValueError:
        return response.status_code, text


def _refusals(body: Any) -> dict[str, str]:
    """Per-recipient refusal words in a 2xx body: Mandrill's list of
    ``{email, status, reject_reason}``, Postmark batch ``{To, ErrorCode, Message}``."""
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    found: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("status") in ("rejected", "invalid"):
            reason = item.get("reject_reason") or ""
            found[str(item.get("email", "")).lower()] = f"{item['status']}: {reason}".rstrip(": ")
        elif item.get("ErrorCode") not in (None, 0) and item.get("To"):
            words = f"{item['ErrorCode']} {item.get('Message', '')}".strip()
            for address in str(item["To"]).split(","):
                found[address.strip().lower()] = words
    return found


def _error_name(body: object) -> str:
    """The error's name in an ``{"status": "error", "name": …}`` answer (Mandrill's), else ""."""
    if not isinstance(body, str) or not body.lstrip().startswith("{"):
        return ""
    try:
        answer = json.loads(body)
    except ValueError:
        return ""
    name = answer.get("name") if isinstance(answer, dict) and answer.get("status") == "error" else None
    return name[:100] if isinstance(name, str) else ""


def _describe_api_error(error: AnymailAPIError) -> tuple[int | None, str]:
    """(HTTP status or None, the provider's words) for a failed request."""
    response = error.response
    if isinstance(response, dict):  # botocore ClientError.response
        err = response.get("Error") or {}
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return status, f"{err.get('Code', '')}: {err.get('Message', '')}".strip(": ")
    status = error.status_code if error.status_code is not None else getattr(response, "status_code", None)
    if response is not None and status is not None:
        return status, (getattr(response, "text", "") or "").strip() or str(getattr(response, "reason", ""))
    cause = error.__cause__
    words = (
        f"{type(cause).__name__}: {cause}" if cause is not None else str(error.args[0] if error.args else "")
    )
    return None, words


def build(settings: Settings) -> EspTransport:
    """The registry's factory (transports/registry.py). Raises EspConfigurationError."""
    return EspTransport(settings.provider, max_recipients=settings.delivery.max_recipients_per_message)
