"""The reply knowledge base: one table from SMTP replies to finding codes.

Read :mod:`postwarden.core.replies.rule` for how a rule matches and how the most
specific match is chosen. The table is ordered so that ties go the right way:
provider wordings first, then wordings that name a cause, then enhanced codes
(RFC 3463, 3207, 4954, 7372, 7505), then reply codes, and last the fallbacks by stage
and code class, which quote the server instead of guessing. Non-reply failures
(DNS, sockets, TLS libraries) have a sibling table in
:mod:`postwarden.core.replies.failures`.

Templates may use ``{host}``, ``{port}``, ``{code}``, ``{region}`` (an SES region, from
the text or the ``email-smtp.<region>.amazonaws.com`` host) and the named groups of
the rule's text pattern.
"""

from __future__ import annotations

from typing import Final

from postwarden.core.codes import Code as C
from postwarden.core.codes import Severity
from postwarden.core.i18n import Text
from postwarden.core.replies.providers import MICROSOFT, PROVIDERS
from postwarden.core.replies.rule import ENVELOPE_OR_UNKNOWN, GREETING, SESSION, Rule, rule
from postwarden.core.smtp.stages import SmtpStage as S

ERROR = Severity.ERROR

#: wordings that name a cause, whoever the server is
WORDINGS: Final[tuple[Rule, ...]] = (
    rule(
        "policy.domain_not_approved",
        C.POLICY_DOMAIN_NOT_APPROVED,
        on=ENVELOPE_OR_UNKNOWN,
        text=r"not an? (?:approved|allowed|permitted) (?:recipient )?domain"
        r"|domain (?:is )?not (?:in the )?(?:approved|allowed|permitted)(?: domains| list)?"
        r"|MAIL_ALLOWED_DOMAINS"
        r"|(?:approved|allowed) domains? (?:list )?(?:does not|doesn't) (?:include|contain)",
        title=Text("The recipient's domain is not an approved domain"),
        explanation=Text(
            "The sending service only mails recipients in its approved domains (an allow "
            "list such as Postwarden's MAIL_ALLOWED_DOMAINS or Metabase's approved domains). The server "
            "did not try to deliver."
        ),
        steps=(
            Text("Add the domain to the approved domains (MAIL_ALLOWED_DOMAINS), or"),
            Text("register the recipient as a member (people with accounts are exempt), or"),
            Text("send to an address in an approved domain."),
        ),
    ),
    rule(
        "policy.suppressed",
        C.POLICY_SUPPRESSED,
        on=ENVELOPE_OR_UNKNOWN,
        text=r"\bsuppress(?:ed|ion list)\b|on (?:the|our|a) (?:suppression|do[- ]not[- ](?:send|mail)) list",
        title=Text("The recipient is on the suppression list"),
        explanation=Text(
            "Mail to this address is not sent because of an earlier hard bounce, a spam "
            "complaint, an unsubscribe or a manual entry on the sender's suppression list."
        ),
        steps=(
            Text(
                "Check why the address is suppressed (the console's Suppressions page shows the reason "
                "and the event)."
            ),
            Text(
                "Remove it from the list only if the cause is fixed (mailbox exists again, the person asked "
                "for mail): re-sending to bouncing or complaining addresses harms the sender's reputation."
            ),
        ),
    ),
    rule(
        "exim.sender_verify",
        C.ENVELOPE_SENDER_REJECTED,
        provider="Exim",
        text=r"Sender verif\w* failed|Verification failed for <|unrouteable (?:mail )?domain",
        title=Text("The server could not verify the sender address"),
        advice=Text(
            "Exim checked the sender address (a DNS check, or a call to its domain's mail "
            "server) and it failed: MAIL_FROM must be a real mailbox on a domain with working MX "
            "records. A machine-made sender such as user@localhost always fails."
        ),
    ),
    rule(
        "postfix.not_owned",
        C.ENVELOPE_SENDER_REJECTED,
        provider="Postfix",
        text=r"not owned by (?:the )?user|Sender address rejected: not logged in",
        title=Text("This login may not send as that sender address"),
        advice=Text(
            "Postfix checks the sender against the login (smtpd_sender_login_maps): MAIL_FROM "
            "must be an address that SMTP_USER owns. Send as your own address, or ask the admin "
            "to map the address to your login."
        ),
    ),
    rule(
        "helo.rejected",
        C.ENVELOPE_RELAY_DENIED,
        text=r"Helo command rejected|(?:HELO|EHLO)(?:/EHLO)? (?:argument|name|hostname)"
        r"|need fully[- ]qualified"
        r"|Syntactically invalid (?:HELO|EHLO)|invalid (?:HELO|EHLO)|(?:HELO|EHLO) (?:is )?(?:invalid"
        r"|rejected)",
        title=Text("The server refused the client's EHLO name"),
        explanation=Text(
            "The server checks the name the client announces in EHLO: it must be a "
            "fully qualified host name that resolves (app.example.com), not 'localhost', "
            "a bare container name or an IP address."
        ),
        steps=(
            Text(
                "Give this machine or container a fully qualified host name that resolves "
                "(Docker Compose: `hostname: app.example.com`); the client announces it in EHLO."
            ),
            Text(
                "Or send through a server that authenticates you instead of checking EHLO "
                "(submission port 587 with SMTP_USER and SMTP_PASSWORD)."
            ),
        ),
    ),
    rule(
        "encryption.required",
        C.AUTH_ENCRYPTION_REQUIRED,
        text=r"must issue a STARTTLS|STARTTLS (?:command )?(?:is )?(?:required|first)"
        r"|encryption (?:is )?required"
        r"|requires? (?:a )?(?:secure|encrypted|TLS|SSL) (?:connection|channel|session)"
        r"|must use (?:TLS|SSL|encryption)|(?:secure|encrypted) connection (?:is )?required"
        r"|\bTLS (?:is )?required|over (?:an )?(?:unencrypted|insecure|plain ?text) (?:connection|channel)"
        r"|plain ?text (?:auth\w*|login) (?:is )?(?:disallowed|not allowed|not permitted|disabled)",
    ),
    rule(
        "auth.required_words",
        C.AUTH_REQUIRED,
        text=r"auth(?:entication)? (?:is )?required|requires? (?:SMTP )?auth(?:entication)?"
        r"|authentication needed"
        r"|must (?:first )?(?:be )?authenticat|please (?:log ?in|authenticate)"
        r"|(?:client|sender|you|user)s? (?:was |were |are |is )?not authenticated"
        r"|unauthenticated (?:senders?|users?|clients?|relay\w*|connections?|sessions?|submission)"
        r"|not (?:logged|signed) in|login required",
    ),
    rule(
        "starttls.unavailable_words",
        C.TLS_STARTTLS_UNAVAILABLE,
        text=r"TLS not available|STARTTLS (?:is )?not (?:supported|available|offered|allowed)"
        r"|(?:doesn't|does not) support STARTTLS|TLS (?:is )?(?:currently |temporarily )?unavailable",
    ),
    rule(
        "auth.mechanism_words",
        C.AUTH_UNAVAILABLE,
        text=r"unsupported (?:auth\w*|SASL) mechanism|(?:auth\w*|SASL) mechanism (?:is )?(?:not (?:supported"
        r"|available"
        r"|enabled|allowed)|unavailable|too weak)|auth\w* (?:is )?not (?:enabled|available|supported|allowed)"
        r"|AUTH (?:command )?(?:is )?not (?:available|supported|enabled|allowed)"
        r"|AUTH command used when not advertised"
        r"|no (?:supported|common|suitable) auth\w* (?:mechanism|method)|mechanism (?:is )?too weak",
    ),
    rule(
        "blocklist.greeting",
        C.NETWORK_SERVICE_REFUSED,
        on=SESSION,
        severity=ERROR,
        text=r"block ?list|black ?list|blocked using|listed (?:at|in|on|by) |\bRBL\b|\bDNSBL\b|spamhaus"
        r"|spamcop"
        r"|barracuda|\bsorbs\b|\[BL\d+\]|(?:poor|bad|low) reputation|(?:banned|blocked|blacklisted"
        r"|blocklisted)"
        r" (?:sending |client |source )?IP|\bIP (?:address )?\S* ?(?:is |has been )?(?:banned|blocked)",
        title=Text("The server refuses this client's IP address (blocklist or reputation)"),
    ),
    rule(
        "blocklist.envelope",
        C.ENVELOPE_RELAY_DENIED,
        on=ENVELOPE_OR_UNKNOWN,
        text=r"block ?list|black ?list|blocked using|listed (?:at|in|on|by) |\bRBL\b|\bDNSBL\b|spamhaus"
        r"|spamcop"
        r"|barracuda|\bsorbs\b|\[BL\d+\]|(?:poor|bad|low) reputation|(?:banned|blocked|blacklisted"
        r"|blocklisted)"
        r" (?:sending |client |source )?IP|\bIP (?:address )?\S* ?(?:is |has been )?(?:banned|blocked)",
        title=Text("The server refuses this client's IP address (blocklist or reputation)"),
        steps=(
            Text(
                "Look the sending IP address up on the blocklist the reply names, and follow its delisting "
                "steps."
            ),
            Text(
                "Send through your provider's submission server or an email provider, whose "
                "addresses are not on residential or abused ranges."
            ),
        ),
    ),
    rule(
        "relay.words",
        C.ENVELOPE_RELAY_DENIED,
        text=r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited|refused|disallowed)"
        r"|(?:not|isn't) (?:permitted|allowed|authori[sz]ed) to relay|unable to relay|we do not relay"
        r"|relay not permitted|allowed rcpthosts|not in my list of allowed|open relay",
    ),
    rule(
        "client_host.rejected",
        C.ENVELOPE_RELAY_DENIED,
        text=r"Client host rejected|client host \S+ (?:blocked|denied|rejected)"
        r"|cannot find your (?:reverse )?hostname"
        r"|reverse DNS|\bPTR record",
    ),
    rule(
        "sender.words",
        C.ENVELOPE_SENDER_REJECTED,
        text=r"Sender address rejected|sender (?:address )?(?:is )?(?:rejected|refused|denied|not allowed"
        r"|not permitted"
        r"|unauthori[sz]ed|invalid|unknown)|(?:invalid|bad|unknown|unauthori[sz]ed) sender"
        r"|Domain of sender address"
        r"|sender domain (?:does not exist|not found|must (?:exist|resolve)|unknown)|badmailfrom"
        r"|incorrect sender"
        r"|check your FROM|from address (?:is )?(?:invalid|not allowed|rejected|does not match)"
        r"|sender address must|envelope sender|Sender address has null MX",
    ),
    rule(
        "mailbox_full.words",
        C.ENVELOPE_RECIPIENT_REJECTED,
        text=r"mailbox.{0,30}(?:full|quota|size limit)|over ?quota|(?:insufficient|out of) (?:storage|disk"
        r"|space)"
        r"|storage (?:allocation|quota|limit)|exceeded (?:the |its )?storage|disk quota|user.{0,20}quota"
        r"|account.{0,30}(?:is full|over quota)|inbox is full",
        title=Text("The recipient's mailbox is full"),
        explanation=Text(
            "The recipient's mailbox has no room left. A 4xx reply is temporary and "
            "Postwarden retries; a 5xx reply gives up on this recipient."
        ),
        steps=(
            Text(
                "Wait for retries (4xx), or tell the recipient by another channel that the mailbox is full."
            ),
        ),
    ),
    rule(
        "mailbox_full.enhanced",
        C.ENVELOPE_RECIPIENT_REJECTED,
        enhanced="X.2.2",
        title=Text("The recipient's mailbox is full"),
        explanation=Text(
            "The recipient's mailbox has no room left. A 4xx reply is temporary and "
            "Postwarden retries; a 5xx reply gives up on this recipient."
        ),
        steps=(
            Text(
                "Wait for retries (4xx), or tell the recipient by another channel that the mailbox is full."
            ),
        ),
    ),
    rule(
        "greylist.words",
        C.ENVELOPE_GREYLISTED,
        reply="4xx",
        text=r"gr[ae]y-?list|gr[ae]ylisted|gr[ae]ylisting",
    ),
    rule(
        "size.words",
        C.ENVELOPE_MESSAGE_TOO_LARGE,
        text=r"message (?:size|length)|too much (?:mail )?data|(?:too|is) (?:big|large)|size "
        "(?:limit|exceeds|exceeded)"
        r"|exceeds? .{0,40}(?:size|databytes)|databytes|max(?:imum)? (?:message )?size"
        r"|message .{0,20}exceeds",
    ),
    rule(
        "rate.words",
        C.ENVELOPE_RATE_LIMITED,
        text=r"rate[- ]?limit|throttl|too many (?:connections|concurrent|simultaneous|sessions|messages"
        r"|e-?mails|mails"
        r"|requests|login attempts|auth\w* (?:attempts|failures)|errors|recipients|commands"
        r"|invalid recipients"
        r"|transactions)|too much mail|too fast|slow down|(?:daily|hourly|sending|send|email|recipient"
        r"|submission|per[- ](?:hour|day|minute)) (?:\w+ )?(?:limit|quota)|message (?:rate|quota)"
        r"|maximum sending rate"
        r"|recipient count exceeds|exceeded (?:the |your )?max(?:imum)? (?:number of )?(?:\w+ )?"
        r"(?:emails|messages|recipients|defers|connections)|max(?:imum)? emails per hour"
        r"|exceeded (?:your |the )?(?:\w+ )?(?:sending |messaging |message )?limits?\b|unexpected volume"
        r"|temporarily (?:rate|volume) limited|connection (?:rate|count) limit"
        # a busy server and Gmail's per-recipient and per-IP deferrals: transient and
        # server-wide, whatever stage they come at (not a refusal of this recipient)
        r"|\b(?:server|system|service|host|machine|mail ?server|site)s? (?:is |are )?(?:\w+ )?(?:too )?busy"
        r"|\btoo busy|\bbusy[,;.]? (?:please )?(?:try|retry)|receiving mail at a rate"
        r"|try again later,? closing connection|(?:over|exceeded|reached) (?:the |its |your )?"
        r"(?:connection|concurrency|session) limit|temporarily (?:throttled|limited)"
        r"|rate (?:over ?limit|exceed)|limits? (?:for|on) (?:how many|the number of)|too quickly",
    ),
    rule(
        "greylist.try_later",
        C.ENVELOPE_GREYLISTED,
        on=ENVELOPE_OR_UNKNOWN,  # greylisting answers a transaction, never the session itself
        reply=("450", "451"),
        enhanced=("X.7.1", "X.7.0", None),
        text=r"^(?!.*(?:too (?:many|much)|rate|limit|quota|throttl|spam|block|reputation|lookup|DNS|resource"
        r"|relay|client host|sender|recipient address|busy))"
        r".*(?:try (?:again )?later|retry later|please retry|come back later|temporar(?:il)?y (?:rejected"
        r"|deferred|refused|blocked)|deferred|try again)",
    ),
    rule(
        "null_mx.recipient",
        C.DNS_RECIPIENT_NO_MX,
        text=r"Recipient address rejected: Domain not found|recipient domain (?:not found|does not exist"
        r"|has no MX)"
        r"|Host or domain name not found|^(?!.*sender).*null MX|no MX (?:or A )?records?"
        r"|domain (?:has )?no MX",
        address_gone=True,
    ),
    rule(
        "policy.prohibited_identity",
        C.ENVELOPE_RECIPIENT_REJECTED,
        text=r"(?:user|domain|address)s? (?:or (?:user|domain|address) )?that you are sending to "
        r"\(?or from\)?|has a policy that prohibit"
        r"|policy (?:of the|at the) (?:recipient|sender)'?s? (?:domain|organi[sz]ation)",
        title=Text("A policy of the recipient's (or the sender's) domain refuses this mail"),
        explanation=Text(
            "The server's administrators set a rule against mail between these two "
            "addresses or domains (Google Workspace's compliance rules, Exchange transport rules). "
            "Nothing is wrong with the server connection; the rule names one side of the envelope."
        ),
        steps=(
            Text(
                "Ask the administrator of the domain the reply names (the recipient's, or yours "
                "when it names the From address) which rule refused the mail."
            ),
            Text("If the rule is yours, allow the From address or domain in it."),
        ),
    ),
    rule(
        "recipient.words",
        C.ENVELOPE_RECIPIENT_REJECTED,
        text=r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)|(?:mailbox|account"
        r"|address|recipient"
        r"|user)(?: \S+)? (?:does not|doesn't|did not) exist|(?:mailbox|recipient|user|address) (?:not found"
        r"|unknown)|recipient not found|invalid (?:recipient|mailbox)|unroutable address"
        r"|unrouteable address|not a valid (?:mailbox|recipient)|no mailbox here|unknown recipient"
        r"|bad destination mailbox|undeliverable address|doesn't have an? \S+ account"
        r"|mailbox (?:is )?(?:disabled"
        r"|inactive)",
        address_gone=True,
    ),
    # RFC 5321's own text for any 550 ("mailbox unavailable", for a missing mailbox or a
    # policy refusal alike): the recipient was refused, but these words do not say it is gone
    rule(
        "recipient.unavailable",
        C.ENVELOPE_RECIPIENT_REJECTED,
        text=r"(?:mailbox|recipient|user|address) (?:is )?unavailable",
    ),
    rule(
        "dmarc.words",
        C.DNS_DMARC_MISALIGNED,
        severity=ERROR,
        text=r"\bDMARC\b|unauthenticated (?:e-?mail|mail|messages?) from|sender is unauthenticated"
        r"|authenticate with (?:either )?SPF or DKIM|fails? (?:sender )?authentication checks",
    ),
    rule(
        "spf.invalid_words",
        C.DNS_SPF_INVALID,
        text=r"\bSPF\b.{0,40}(?:permerror|perm error|syntax|too many (?:DNS )?lookups|temperror)",
    ),
    rule(
        "spf.words",
        C.DNS_SPF_NOT_AUTHORIZING,
        severity=ERROR,
        text=r"\bSPF\b|Sender Policy Framework|(?:does not|doesn't) designate .{0,80}permitted sender"
        r"|not (?:a )?permitted sender",
    ),
    rule(
        "dkim.missing_words",
        C.DNS_DKIM_MISSING,
        text=r"(?:no|missing|without) (?:valid )?DKIM|DKIM.{0,20}(?:missing|required)|not DKIM[- ]signed",
    ),
    rule("dkim.failed_words", C.DNS_DKIM_MISMATCH, text=r"\bDKIM\b"),
    rule(
        "provider.paused",
        C.PROVIDER_ACCOUNT_SUSPENDED,
        text=r"sending (?:is |has been )?(?:paused|suspended|disabled)|account (?:is "
        r"|has been )?(?:suspended|paused"
        r"|deactivated|under review|on hold|banned)|(?:your|this) account (?:is |has been )?disabled"
        r"|domain \S+ (?:is|has been) (?:disabled|suspended)|out of credits?|insufficient (?:credits|funds"
        r"|balance)",
    ),
    rule(
        "provider.unverified_words",
        C.PROVIDER_SENDER_UNVERIFIED,
        text=r"(?:domain|sender|address|identity|signature)s? (?:is |are |has "
        r"|have )?not (?:yet )?(?:been )?verified"
        r"|unverified (?:sender|domain|address)|not a (?:verified|confirmed) (?:sender|domain|address)",
    ),
    rule(
        "content.words",
        C.ENVELOPE_CONTENT_REJECTED,
        text=r"\bspam\b|unsolicited|\bjunk\b|\bUCE\b|message content|content (?:rejected|filter|policy"
        r"|was rejected)"
        r"|\bvirus|malware|phishing|infected|security issue|(?:rejected|blocked|refused) (?:by|due to"
        r"|because of)"
        r" (?:\w+ )?(?:policy|filter|content)|policy (?:violation|reasons)|suspicious|high probability"
        r"|(?:prohibited|banned|blocked|dangerous) (?:attachment|file)|attachment.{0,30}(?:not allowed"
        r"|blocked)",
    ),
    rule(
        "auth.failed_words",
        C.AUTH_FAILED,
        text=r"authentication (?:failed|unsuccessful|failure|rejected|error)|invalid (?:credentials|login"
        r"|username"
        r"|user ?name|password)|(?:bad|wrong|incorrect) (?:username|user name|password|credentials|login)"
        r"|log ?in (?:failed|incorrect|denied)|(?:username|password).{0,30}(?:not accepted|incorrect|invalid"
        r"|wrong)",
    ),
    # Postfix's and others' generic prefix for a refusal by the recipient restrictions: the
    # words after it name the cause when a rule above knows them; otherwise, with a generic
    # or addressing enhanced code, the refusal is of this recipient (not a relay refusal)
    rule(
        "recipient.address_rejected",
        C.ENVELOPE_RECIPIENT_REJECTED,
        enhanced=("X.0.0", "X.7.0", "X.7.1", "X.1.", "X.2.", None),
        text=r"Recipient address rejected"
        r"|recipient (?:address )?(?:is )?(?:rejected|refused|denied|not allowed)",
        weak=True,
    ),
)


#: RFC 3463 enhanced codes (and the RFC 4954 / 7372 / 7505 registrations), with the stage
#: where they are ambiguous: X.7.1 "delivery not authorized" is a relay refusal at RCPT,
#: a content refusal at DATA and a sender refusal at MAIL.
ENHANCED: Final[tuple[Rule, ...]] = (
    rule("enhanced.auth_credentials", C.AUTH_FAILED, enhanced="X.7.8", severity=ERROR),
    rule("enhanced.auth_other", C.AUTH_FAILED, enhanced=("X.7.12", "X.7.13", "X.7.14")),
    rule("enhanced.encryption_required", C.AUTH_ENCRYPTION_REQUIRED, enhanced="X.7.11"),
    rule("enhanced.auth_exchange", C.AUTH_FAILED, on=S.AUTH, enhanced="X.7.3"),
    rule("enhanced.dkim_none", C.DNS_DKIM_MISSING, enhanced="X.7.20", severity=ERROR),
    rule("enhanced.dkim_unacceptable", C.DNS_DKIM_MISMATCH, enhanced="X.7.21", severity=ERROR),
    rule("enhanced.dmarc", C.DNS_DMARC_MISALIGNED, enhanced=("X.7.22", "X.7.26"), severity=ERROR),
    rule("enhanced.spf_fail", C.DNS_SPF_NOT_AUTHORIZING, enhanced="X.7.23", severity=ERROR),
    rule("enhanced.spf_error", C.DNS_SPF_INVALID, enhanced="X.7.24", severity=ERROR),
    rule(
        "enhanced.reverse_dns",
        C.ENVELOPE_RELAY_DENIED,
        enhanced="X.7.25",
        title=Text("The sending IP address has no matching reverse DNS (PTR) record"),
    ),
    rule(
        "enhanced.sender_null_mx",
        C.ENVELOPE_SENDER_REJECTED,
        enhanced="X.7.27",
        title=Text("The sender's domain accepts no mail (null MX)"),
        explanation=Text(
            "The sender's domain publishes a null MX (RFC 7505), so it cannot receive "
            "bounces, and servers refuse mail from it. example.com is such a domain: a "
            "default sender such as test@example.com is refused everywhere."
        ),
        steps=(
            Text("Set MAIL_FROM (and the Reply-To) to an address on your own domain, not a placeholder."),
        ),
    ),
    rule("enhanced.flood", C.ENVELOPE_RATE_LIMITED, enhanced="X.7.28"),
    rule("enhanced.send_as", C.ENVELOPE_SENDER_REJECTED, enhanced="X.7.60", provider=MICROSOFT),
    rule("enhanced.relay_at_rcpt", C.ENVELOPE_RELAY_DENIED, on={S.RCPT, None}, enhanced="X.7.1"),
    rule("enhanced.policy_at_mail", C.ENVELOPE_SENDER_REJECTED, on=S.MAIL, enhanced="X.7.1"),
    rule(
        "enhanced.policy_at_data",
        C.ENVELOPE_CONTENT_REJECTED,
        on=S.DATA,
        reply="5xx",
        enhanced=("X.7.1", "X.7.0"),
    ),
    rule(
        "enhanced.policy_at_greeting", C.NETWORK_SERVICE_REFUSED, on=GREETING, enhanced="X.7.", severity=ERROR
    ),
    rule(
        "enhanced.bad_mailbox",
        C.ENVELOPE_RECIPIENT_REJECTED,
        enhanced=("X.1.1", "X.1.3", "X.1.6", "X.1.10"),
        address_gone=True,
    ),
    rule(
        "enhanced.bad_domain",
        C.DNS_RECIPIENT_NO_MX,
        on=ENVELOPE_OR_UNKNOWN,
        enhanced="X.1.2",
        address_gone=True,
    ),
    rule("enhanced.bad_sender", C.ENVELOPE_SENDER_REJECTED, enhanced=("X.1.7", "X.1.8")),
    rule("enhanced.address_at_mail", C.ENVELOPE_SENDER_REJECTED, on=S.MAIL, enhanced="X.1."),
    rule("enhanced.mailbox_disabled", C.ENVELOPE_RECIPIENT_REJECTED, enhanced="5.2.1", address_gone=True),
    rule("enhanced.receiving_rate", C.ENVELOPE_RATE_LIMITED, enhanced="4.2.1"),
    rule("enhanced.size", C.ENVELOPE_MESSAGE_TOO_LARGE, enhanced=("X.2.3", "X.3.4")),
    rule("enhanced.congestion", C.ENVELOPE_RATE_LIMITED, enhanced="X.4.5"),
    # "mail system full" / "not accepting messages" while a transaction is under way:
    # the whole server is short of room or busy, not this recipient (RFC 3463 X.3.1, X.3.2)
    rule(
        "enhanced.system_busy",
        C.ENVELOPE_RATE_LIMITED,
        on=ENVELOPE_OR_UNKNOWN,
        reply="4xx",
        enhanced=("4.3.1", "4.3.2"),
        title=Text("The server is busy or short of resources: it will take mail later"),
    ),
    # any other mail-system status (RFC 3463 X.3.x) during a transaction is the server's own
    # trouble ("queue file write error", "configuration problem"), not this recipient's
    rule(
        "enhanced.system_trouble",
        C.NETWORK_SERVICE_REFUSED,
        on=ENVELOPE_OR_UNKNOWN,
        reply="4xx",
        enhanced="4.3.",
        title=Text("The server has a temporary problem of its own, not with this message or recipient"),
    ),
    rule(
        "enhanced.too_many_recipients",
        C.ENVELOPE_RATE_LIMITED,
        enhanced="X.5.3",
        title=Text("Too many recipients for one message"),
    ),
    rule("enhanced.media", C.ENVELOPE_CONTENT_REJECTED, enhanced="X.6."),
)

#: reply codes with one meaning (RFC 5321 §4.2.3, RFC 3207, RFC 4954)
CODES: Final[tuple[Rule, ...]] = (
    rule("code.530", C.AUTH_REQUIRED, reply="530"),
    rule("code.538", C.AUTH_ENCRYPTION_REQUIRED, reply="538"),
    rule("code.535", C.AUTH_FAILED, reply="535"),
    rule(
        "code.534",
        C.AUTH_UNAVAILABLE,
        reply="534",
        title=Text("The server finds the authentication mechanism too weak"),
    ),
    rule("code.432", C.AUTH_FAILED, reply="432"),
    rule("code.552_at_data", C.ENVELOPE_MESSAGE_TOO_LARGE, on=S.DATA, reply="552"),
    # RFC 1870 §6.1: 552 to MAIL FROM … SIZE= is "message size exceeds fixed maximum"
    rule("code.552_at_mail", C.ENVELOPE_MESSAGE_TOO_LARGE, on=S.MAIL, reply="552"),
    rule(
        "code.552_at_rcpt",
        C.ENVELOPE_RECIPIENT_REJECTED,
        on=S.RCPT,
        reply="552",
        title=Text("The recipient's mailbox is full"),
    ),
    rule("code.auth_command_unknown", C.AUTH_UNAVAILABLE, on=S.AUTH, reply=("500", "502", "503", "504")),
    rule("code.starttls_refused", C.TLS_STARTTLS_UNAVAILABLE, on=S.STARTTLS, reply=("4xx", "5xx")),
    rule(
        "code.greeting_refused", C.NETWORK_SERVICE_REFUSED, on=GREETING, reply=("421", "554"), severity=ERROR
    ),
    # docs/spec/doctor.md lists 421 4.7.0 and 454 4.7.0 among rate limits; at the greeting a bare
    # 421 stays service_refused (above), and at AUTH 454 4.7.0 is RFC 4954's temporary failure
    rule(
        "code.421_policy",
        C.ENVELOPE_RATE_LIMITED,
        on=ENVELOPE_OR_UNKNOWN,
        reply="421",
        enhanced="X.7.0",
    ),
    rule(
        "code.454_envelope",
        C.ENVELOPE_RATE_LIMITED,
        on=ENVELOPE_OR_UNKNOWN,
        reply="454",
        enhanced=("X.7.0", None),
    ),
    rule(
        "code.421",
        C.NETWORK_SERVICE_REFUSED,
        reply="421",
        title=Text("The server is closing the connection (421)"),
    ),
    rule(
        "code.positive",
        None,
        reply=("2xx", "3xx"),
        severity=Severity.INFO,
        title=Text("The server accepted this command"),
        explanation=Text("A 2xx or 3xx reply is not a failure."),
    ),
)

_QUOTE = Text("The server's words match no known cause; they are quoted as evidence: {evidence}")

#: when nothing above knows the words: the stage and the code class decide (docs/spec/doctor.md)
FALLBACKS: Final[tuple[Rule, ...]] = (
    rule(
        "fallback.greeting",
        C.NETWORK_SERVICE_REFUSED,
        on=GREETING,
        reply=("4xx", "5xx"),
        severity=ERROR,
        explanation=_QUOTE,
    ),
    rule("fallback.session", C.NETWORK_SERVICE_REFUSED, on=SESSION, reply=("4xx", "5xx"), explanation=_QUOTE),
    rule("fallback.auth", C.AUTH_FAILED, on=S.AUTH, reply=("4xx", "5xx"), explanation=_QUOTE),
    rule("fallback.mail", C.ENVELOPE_SENDER_REJECTED, on=S.MAIL, reply=("4xx", "5xx"), explanation=_QUOTE),
    rule("fallback.rcpt", C.ENVELOPE_RECIPIENT_REJECTED, on=S.RCPT, reply=("4xx", "5xx"), explanation=_QUOTE),
    rule("fallback.data", C.ENVELOPE_CONTENT_REJECTED, on=S.DATA, reply=("4xx", "5xx"), explanation=_QUOTE),
)

#: THE table, in tie-breaking order
RULES: Final[tuple[Rule, ...]] = (*PROVIDERS, *WORDINGS, *ENHANCED, *CODES, *FALLBACKS)
