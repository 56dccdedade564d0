"""The server's queue id (or message id) from the reply to the end of data.

Best effort: support staff search their logs by it ("queued as 4BxYz…"), so we keep it
when a server says it, and return None when it does not (Mailgun's "250 Great success",
aiosmtpd's "250 OK", Postfix smtp-sink's "250 2.0.0 Ok"). One table, tried in order,
on the reply text with the code and enhanced status already stripped.
"""

from __future__ import annotations

import re
from typing import Final

from postwarden.core.smtp.reply import Reply

#: (who answers like this, pattern whose group 1 is the id). Examples in the tests.
QUEUE_ID_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    # Postfix "Ok: queued as 4BxYz12ab3z", SendGrid "Ok: queued as VQv2…", Mailjet, Postmark
    ("queued as", re.compile(r"\bqueued as:? <?([A-Za-z0-9._@=+/-]+)>?", re.IGNORECASE)),
    # Exim "OK id=1tAbCd-000123-Xy"
    ("exim", re.compile(r"\bid=([A-Za-z0-9-]+)")),
    # Exchange Online "<MESSAGE-ID> [InternalId=…, Hostname=…] … Queued mail for delivery"
    ("exchange", re.compile(r"^<([^>\s]+)> \[InternalId=")),
    # Gmail "OK  1714052044 5b1f17b1804b1-41b7e8a1c2dsm1234f8f.12 - gsmtp"
    ("gmail", re.compile(r"^OK\s+\d+\s+(\S+)\s+-\s+gsmtp")),
    # Amazon SES "Ok 0100018f2b5c3d4e-5f6a7b8c-9d0e-1f2a-3b4c-5d6e7f8a9b0c-000000"
    ("ses", re.compile(r"^Ok ([0-9a-f]{16}-[0-9a-f-]{36}-\d{6})$")),
    # Sendmail "x4Q8mA1c012345 Message accepted for delivery"
    ("sendmail", re.compile(r"^([A-Za-z0-9]{12,}) Message accepted for delivery")),
)


#: no form that carries an id is shorter than this; "Ok" and "OK" (smtp-sink, aiosmtpd)
#: skip the table, which the worker would otherwise try once per message
_SHORTEST: Final = len("OK id=1")


def parse_queue_id(reply: Reply) -> str | None:
    """The id the server gave the accepted message, or None."""
    text = reply.text
    if len(text) < _SHORTEST:
        return None
    for _name, pattern in QUEUE_ID_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None
