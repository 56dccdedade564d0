"""Local HTTP servers answering as each provider's documented API does (pytest-httpserver).

Status codes, headers and JSON bodies are the ones each provider documents for its send
endpoint: SendGrid v3 ``POST /v3/mail/send`` (202, empty body, ``X-Message-Id``), Mailgun
``POST /v3/<domain>/messages`` (200 ``{"id","message"}``), Postmark ``POST /email``
(200 ``{"To","SubmittedAt","MessageID","ErrorCode":0,"Message":"OK"}``, errors 401/422 with
``ErrorCode``), Resend ``POST /emails`` (200 ``{"id"}``, errors ``{"statusCode","name",
"message"}``), Mandrill ``POST /api/1.0/messages/send.json`` (200: one ``{email, status,
reject_reason, _id}`` per recipient; every error is HTTP 500 with ``{"status":"error",
"code","name","message"}``), Amazon SES v2 ``POST /v2/email/outbound-emails`` (200
``{"MessageId"}``; errors carry their type in ``X-Amzn-ErrorType`` and ``{"message"}``).

Each ``Api`` knows its path prefix (what ``<PROVIDER>_API_URL`` points at) and how to
register a success or an error. Use ``Api.settings(httpserver)`` for a ready
ProviderSettings pointing at the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from postwarden.core.config.model import Provider, ProviderSettings
from postwarden.core.secrets import Secret


@dataclass(frozen=True)
class Api:
    provider: Provider
    #: the ``<PROVIDER>_API_URL`` path on the local server
    base: str
    #: the send endpoint under the server root
    send_path: str
    secrets: Mapping[str, str]
    options: Mapping[str, str] = field(default_factory=dict)

    def settings(self, server: HTTPServer, **secrets: str) -> ProviderSettings:
        values = {**self.secrets, **secrets}
        return ProviderSettings(
            name=self.provider,
            secrets={k: Secret(v) for k, v in values.items()},
            options=dict(self.options),
            api_url=server.url_for(self.base),
        )

    def answer(
        self,
        server: HTTPServer,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next send gets ``status`` with ``body`` (JSON unless it is a str)."""
        data = body if isinstance(body, str) or body is None else json.dumps(body)
        content_type = "text/plain" if isinstance(body, str) else "application/json"
        server.expect_oneshot_request(self.send_path, method="POST").respond_with_response(
            Response(data or "", status=status, headers=dict(headers or {}), content_type=content_type)
        )

    def answer_with(self, server: HTTPServer, handler: Any) -> None:
        server.expect_oneshot_request(self.send_path, method="POST").respond_with_handler(handler)


SENDGRID = Api(Provider.SENDGRID, "/v3/", "/v3/mail/send", {"SENDGRID_API_KEY": "SG.test-key-0001"})
MAILGUN = Api(
    Provider.MAILGUN,
    "/v3/",
    "/v3/mg.example.com/messages",
    {"MAILGUN_API_KEY": "key-mailgun-0001"},
    {"MAILGUN_DOMAIN": "mg.example.com"},
)
POSTMARK = Api(
    Provider.POSTMARK,
    "/",
    "/email",
    {"POSTMARK_SERVER_TOKEN": "pm-server-token-0001"},
    {"POSTMARK_MESSAGE_STREAM": "outbound"},
)
RESEND = Api(Provider.RESEND, "/", "/emails", {"RESEND_API_KEY": "re_test_key_0001"})
MANDRILL = Api(
    Provider.MANDRILL, "/api/1.0/", "/api/1.0/messages/send.json", {"MANDRILL_API_KEY": "md-key-0001"}
)
#: boto3 signs and sends to the endpoint URL itself (AWS_ENDPOINT_URL); moto (tests/motod.py)
#: answers successes, this answers the errors moto cannot be made to give
SES = Api(
    Provider.SES,
    "/",
    "/v2/email/outbound-emails",
    {"AWS_SECRET_ACCESS_KEY": "ses-secret-0001"},
    {"AWS_ACCESS_KEY_ID": "AKIDPOSTWARDENTEST", "AWS_REGION": "eu-west-1"},
)
#: every provider backend, each answering from its own local server
ALL = (SES, SENDGRID, MAILGUN, POSTMARK, RESEND, MANDRILL)


# --- documented success answers -------------------------------------------------------


def sendgrid_accepted(server: HTTPServer, x_message_id: str = "xm-4AaB8fCzQ1eLvN3dQ2WoZg") -> None:
    SENDGRID.answer(server, 202, None, {"X-Message-Id": x_message_id})


def mailgun_queued(server: HTTPServer, message_id: str = "<20260101120000.1.ABCDEF@mg.example.com>") -> None:
    MAILGUN.answer(server, 200, {"id": message_id, "message": "Queued. Thank you."})


def postmark_ok(server: HTTPServer, message_id: str = "0a129aee-e1cd-480d-b08d-4f48548ff48d") -> None:
    def handler(request: Request) -> Response:
        to = json.loads(request.get_data())["To"]
        body = {
            "To": to,
            "SubmittedAt": "2026-01-01T07:25:01.4178645-05:00",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    POSTMARK.answer_with(server, handler)


def resend_ok(server: HTTPServer, email_id: str = "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794") -> None:
    RESEND.answer(server, 200, {"id": email_id})


def mandrill_results(server: HTTPServer, outcomes: Mapping[str, tuple[str, str | None]]) -> None:
    """``{address: (status, reject_reason)}``; ``_id`` is made from the address."""
    body = [
        {
            "email": address,
            "status": status,
            "reject_reason": reason,
            "_id": f"md{abs(hash(address)) % 10**12:012d}" if status != "invalid" else None,
        }
        for address, (status, reason) in outcomes.items()
    ]
    MANDRILL.answer(server, 200, body)


# --- documented error answers ---------------------------------------------------------

ERRORS: dict[Provider, dict[int, Any]] = {
    Provider.SENDGRID: {
        401: {
            "errors": [
                {
                    "field": None,
                    "message": "The provided authorization grant is invalid, expired, or revoked",
                    "help": None,
                }
            ]
        },
        429: {"errors": [{"field": None, "message": "too many requests"}]},
        400: {
            "errors": [
                {
                    "field": "from",
                    "message": "The from address does not match a verified Sender "
                    "Identity. Mail cannot be sent until this error is resolved.",
                    "help": None,
                }
            ]
        },
    },
    Provider.MAILGUN: {
        401: "Forbidden",
        429: {"message": "Too many requests"},
        400: {"message": "'from' parameter is not a valid address. please check documentation"},
    },
    Provider.POSTMARK: {
        401: {
            "ErrorCode": 10,
            "Message": "No Account or Server API tokens were supplied in the HTTP headers. "
            "Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token.",
        },
        429: {"ErrorCode": 429, "Message": "Rate limit exceeded."},
        422: {"ErrorCode": 300, "Message": "Invalid email request"},
    },
    Provider.RESEND: {
        401: {
            "statusCode": 401,
            "name": "missing_api_key",
            "message": "Missing API key in the authorization "
            "header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY",
        },
        429: {
            "statusCode": 429,
            "name": "rate_limit_exceeded",
            "message": "Too many requests. You can only make 2 requests per second.",
        },
        422: {
            "statusCode": 422,
            "name": "validation_error",
            "message": "Invalid `from` field. The email "
            "address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
        },
    },
    Provider.MANDRILL: {
        500: {"status": "error", "code": -1, "name": "Invalid_Key", "message": "Invalid API key"},
    },
}


def error_answer(api: Api, status: int) -> tuple[Any, dict[str, str]]:
    """(body, headers) of an error with ``status`` in ``api``'s documented error format."""
    words = f"HTTP {status} from the provider"
    if api is SES:
        kind = {400: "BadRequestException", 403: "AccessDeniedException", 404: "NotFoundException"}
        error_type = kind.get(status, "InternalFailure" if status >= 500 else "BadRequestException")
        return {"message": words}, {"X-Amzn-ErrorType": f"{error_type}:http://internal.amazon.com/"}
    body: Any = {
        Provider.SENDGRID: {"errors": [{"field": None, "message": words, "help": None}]},
        Provider.MAILGUN: {"message": words},
        Provider.POSTMARK: {"ErrorCode": 300 if status < 500 else 0, "Message": words},
        Provider.RESEND: {"statusCode": status, "name": "application_error", "message": words},
        Provider.MANDRILL: {"status": "error", "code": -1, "name": "GeneralError", "message": words},
    }[api.provider]
    return body, {}


#: what a load balancer in front of any provider answers when the API behind it is down
GATEWAY_PAGE = "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
