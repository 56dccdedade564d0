"""The DNS stage: SPF, DKIM and DMARC of the From domain, and whether the recipient's
domain takes mail at all. Every question goes through the run's :class:`DnsClient`.

DMARC passes when SPF or DKIM passes *and* aligns with the From domain (RFC 7489 §3.1):
SPF through the envelope sender (the From address for SMTP here; a provider's own
bounce domain unless a custom MAIL FROM is set up), DKIM through the signing d= domain.

With VERP return paths (BOUNCE_DOMAIN, SMTP) the envelope sender's domain is the bounce
domain, so SPF is asked of it instead (``dns.bounce_spf``): it must authorize the sending
host, and for SPF to count toward DMARC it must share the From domain's organizational
domain (relaxed alignment, ``dns.bounce_misaligned`` when it does not). When a bounce
listener or mailbox is configured, the bounce domain needs an MX (``dns.bounce_mx``): the
bounces are mail to it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postwarden.core.config.model import Provider
from postwarden.core.dns import DnsError
from postwarden.core.doctor import dmarc, spf
from postwarden.core.doctor.checks.dkim import DkimResult, check_own_key, check_service_keys
from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.senders import mail_domain, sender_for
from postwarden.core.i18n import Number, Text, join, said

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder


@dataclass(frozen=True, slots=True)
class SpfResult:
    #: True/False: the record authorizes the sending service; None: not known
    covers: bool | None


async def run_dns(ctx: Context, rec: Recorder) -> None:
    domain = mail_domain(ctx.settings.sending.from_address)
    jobs = [_recipient(ctx, rec, mail_domain(ctx.recipient))]
    if not domain:
        rec.check("dns.from_domain", Status.SKIP, Text("MAIL_FROM is not set"))
    elif ctx.settings.sending.provider is Provider.CAPTURE:
        rec.check("dns.from_domain", Status.SKIP, Text("nothing is sent (EMAIL_PROVIDER=capture)"))
    else:
        jobs.append(_from_domain(ctx, rec, domain))
    await asyncio.gather(*jobs)


async def _from_domain(ctx: Context, rec: Recorder, domain: str) -> None:
    bounce = ctx.settings.bounces.domain if ctx.settings.sending.provider is Provider.SMTP else None
    if bounce:
        spf_result, dkim_result, _ = await asyncio.gather(
            _bounce_spf(ctx, rec, bounce, domain), _dkim(ctx, rec, domain), _bounce_mx(ctx, rec, bounce)
        )
    else:
        spf_result, dkim_result = await asyncio.gather(_spf(ctx, rec, domain), _dkim(ctx, rec, domain))
    await _dmarc(ctx, rec, domain, spf_result, dkim_result)


async def _bounce_spf(ctx: Context, rec: Recorder, bounce: str, from_domain: str) -> SpfResult:
    """SPF of the bounce domain (the envelope sender's, with VERP) and its alignment with
    the From domain; the result counts as SPF alignment for DMARC only when both hold."""
    steps = (
        *_spf_steps(ctx, bounce),
        Text(
            "Bounces come back to this domain: it needs the SPF record even if {domain} has one.",
            domain=from_domain,
        ),
    )
    with rec.timed() as t:
        try:
            records = await spf.fetch(ctx.dns, bounce)
            if not records:
                answer = await ctx.dns.txt(bounce)
                covers: bool | None = False
                detail: str = join(": ", [f"TXT {bounce}", answer.evidence])
            else:
                record = spf.parse(records[0]) if len(records) == 1 else None
                if record is None:
                    covers, detail = None, _several_spf(bounce, records)
                else:
                    tally = await spf.count_lookups(ctx.dns, bounce, record)
                    covers, why = await _covers(ctx, bounce, record, tally)
                    detail = _record_why(bounce, record.text, why)
        except (DnsError, spf.SpfError) as exc:
            detail = Text(
                "could not evaluate the SPF record of {name}: {error}", name=bounce, error=said(exc)
            )
            covers = None
    if covers is False:
        rec.finding(Finding.of(Code.DNS_BOUNCE_SPF_MISSING, detail, steps))
    status = Status.PASS if covers else (Status.FAIL if covers is False else Status.WARN)
    aligned = dmarc.aligned(bounce, from_domain, "r")
    if not aligned:
        evidence = Text(
            "return paths @{bounce}, From @{domain}: organizational domains {bounce_org} and {org} differ",
            bounce=bounce,
            domain=from_domain,
            bounce_org=dmarc.organizational_domain(bounce),
            org=dmarc.organizational_domain(from_domain),
        )
        rec.finding(
            Finding.of(
                Code.DNS_BOUNCE_MISALIGNED,
                evidence,
                (
                    Text(
                        "Use a bounce domain under {org}, e.g. BOUNCE_DOMAIN=bounces.{org}.",
                        org=dmarc.organizational_domain(from_domain),
                    ),
                    Text(
                        "Or sign with DKIM for {domain}: DMARC passes when DKIM aligns, whatever SPF says.",
                        domain=from_domain,
                    ),
                ),
            )
        )
        detail = join(
            "; ", [detail, Text("not aligned with {domain} (DMARC counts only DKIM)", domain=from_domain)]
        )
    rec.check("dns.bounce_spf", status, detail, duration_ms=t.ms)
    return SpfResult(bool(covers and aligned) if covers is not None else None)


async def _bounce_mx(ctx: Context, rec: Recorder, bounce: str) -> None:
    """The bounce domain must receive mail when something reads its bounces."""
    bounces = ctx.settings.bounces
    if bounces.listen is None and not bounces.imap:
        rec.check(
            "dns.bounce_mx",
            Status.SKIP,
            Text("neither POSTWARDEN_BOUNCE_LISTEN nor BOUNCE_IMAP_HOST is set: nothing reads the bounces"),
        )
        return
    where = (
        Text("the bounce listener (port {port})", port=bounces.listen[1])
        if bounces.listen is not None
        else Text("the bounce mailbox at {host}", host=bounces.imap_host)
    )
    with rec.timed() as t:
        try:
            answer = await ctx.dns.lookup(bounce, "MX")
            hosts = [host for _, host in await ctx.dns.mx(bounce)] if answer.records else []
        except DnsError as exc:
            said_ = Text("could not look up MX {name}: {error}", name=bounce, error=said(exc))
            rec.check("dns.bounce_mx", Status.WARN, said_, duration_ms=t.ms)
            return
    if hosts and hosts != [""]:
        rec.check(
            "dns.bounce_mx", Status.PASS, join(": ", [f"MX {bounce}", answer.evidence]), duration_ms=t.ms
        )
        return
    evidence = (
        Text("MX {name}: {answer} (null MX: the domain takes no mail)", name=bounce, answer=answer.evidence)
        if hosts
        else join(": ", [f"MX {bounce}", answer.evidence])
    )
    rec.finding(
        Finding.of(
            Code.DNS_BOUNCE_MX_MISSING,
            evidence,
            (
                Text(
                    "Publish an MX record for {name} pointing at {where}'s host, e.g. "
                    '"{name}. IN MX 10 <this host>."',
                    name=bounce,
                    where=where,
                ),
                Text("Without it, remote servers cannot return bounces and no bounce reaches the timeline."),
            ),
        )
    )
    rec.check("dns.bounce_mx", Status.FAIL, evidence, duration_ms=t.ms)


async def _spf(ctx: Context, rec: Recorder, domain: str) -> SpfResult:
    with rec.timed() as t:
        try:
            result, status, detail = await _spf_verdict(ctx, rec, domain)
        except DnsError as exc:
            result, status = SpfResult(None), Status.WARN
            detail = Text("could not look up SPF: {error}", error=said(exc))
    rec.check("dns.spf", status, detail, duration_ms=t.ms)
    return result


async def _spf_verdict(ctx: Context, rec: Recorder, domain: str) -> tuple[SpfResult, Status, str]:
    records = await spf.fetch(ctx.dns, domain)
    if not records:
        answer = await ctx.dns.txt(domain)
        evidence = join(": ", [f"TXT {domain}", answer.evidence])
        rec.finding(Finding.of(Code.DNS_SPF_MISSING, evidence, _spf_steps(ctx, domain)))
        return SpfResult(False), Status.FAIL, evidence
    try:
        if len(records) > 1:
            raise spf.SpfError(
                Text(
                    "{count} SPF records; receivers treat that as an error (RFC 7208 §4.5)",
                    count=Number(len(records)),
                )
            )
        record = spf.parse(records[0])
        tally = await spf.count_lookups(ctx.dns, domain, record)
    except spf.SpfError as exc:
        evidence = Text(
            "TXT {name}: {records} ({error})", name=domain, records=" | ".join(records), error=said(exc)
        )
        rec.finding(
            Finding.of(
                Code.DNS_SPF_INVALID,
                evidence,
                (
                    Text(
                        "Publish exactly one valid TXT record starting with v=spf1 at {domain}.",
                        domain=domain,
                    ),
                    Text(
                        "Keep it under 10 DNS lookups (include:, a, mx, exists, redirect=): remove includes "
                        "of "
                        "services you no longer use."
                    ),
                ),
            )
        )
        return SpfResult(None), Status.FAIL, evidence
    covers, why = await _covers(ctx, domain, record, tally)
    if covers is False:
        evidence = _record_why(domain, record.text, why)
        rec.finding(Finding.of(Code.DNS_SPF_NOT_AUTHORIZING, evidence, _spf_steps(ctx, domain)))
        return SpfResult(False), Status.WARN, evidence
    detail = Text(
        "{record} ({lookups} lookups; {why})", record=record.text, lookups=Number(tally.lookups), why=why
    )
    return SpfResult(covers), Status.PASS if covers else Status.WARN, detail


async def _covers(
    ctx: Context, domain: str, record: spf.Record, tally: spf.SpfTally
) -> tuple[bool | None, str]:
    sender = sender_for(ctx.settings)
    if sender is not None and sender.spf_include and sender.spf_include in tally.reached:
        return True, Text("include:{include} covers {sender}", include=sender.spf_include, sender=sender.name)
    if ctx.settings.sending.provider is not Provider.SMTP:
        include = sender.spf_include if sender and sender.spf_include else Text("the provider's include")
        return False, Text("it does not include {include}", include=include)
    host = ctx.settings.smtp.host or ""
    try:
        ips = [ip for ip, _ in await ctx.dns.resolve_host(host, ctx.settings.smtp.port)]
    except OSError as exc:  # the network stage reports the unresolvable host
        return None, Text("{host} has no address to check against it ({error})", host=host, error=said(exc))
    verdicts = [await spf.authorizes(ctx.dns, domain, record, ip) for ip in ips]
    if None in verdicts:
        return None, Text(
            "whether it covers {host} depends on macros or ptr, which the doctor does not evaluate", host=host
        )
    missing = [ip for ip, ok in zip(ips, verdicts, strict=True) if not ok]
    if missing:
        return False, Text(
            "it does not authorize {host} ({addresses})", host=host, addresses=", ".join(missing)
        )
    return True, Text("it authorizes {host} ({addresses})", host=host, addresses=", ".join(ips))


def _spf_steps(ctx: Context, domain: str) -> tuple[str, ...]:
    sender = sender_for(ctx.settings)
    how: str
    if sender is not None and sender.spf_include:
        how = f"include:{sender.spf_include}"
        example: str = f'"v=spf1 include:{sender.spf_include} ~all"'
    else:
        host = ctx.settings.smtp.host or Text("your SMTP server")
        how = Text("the addresses of {host} (ip4:/ip6: or a:)", host=host)
        example = Text('"v=spf1 a:<your SMTP server> ~all"')
    return (
        Text(
            "Publish one TXT record at {domain} that authorizes {how}, e.g. {example}.",
            domain=domain,
            how=how,
            example=example,
        ),
        Text(
            "If the domain already has an SPF record, add the mechanism to it instead of publishing a "
            "second one."
        ),
    )


def _several_spf(name: str, records: list[str]) -> Text:
    return Text("TXT {name}: {records} (several SPF records)", name=name, records=" | ".join(records))


def _record_why(name: str, record: str, why: str) -> Text:
    """``TXT example.com: v=spf1 … (it does not authorize …)``"""
    return Text("TXT {name}: {record} ({why})", name=name, record=record, why=why)


async def _dkim(ctx: Context, rec: Recorder, domain: str) -> DkimResult:
    signing = ctx.settings.signing
    with rec.timed() as t:
        try:
            if signing.enabled and ctx.settings.sending.provider is Provider.SMTP:
                result = await check_own_key(
                    ctx.dns, signing.selector or "", signing.domain or domain, signing.private_key
                )
            else:
                result = await check_service_keys(ctx.dns, domain, sender_for(ctx.settings), signing.selector)
        except DnsError as exc:
            result = DkimResult(None, Text("could not look up DKIM: {error}", error=said(exc)), known=False)
    if result.finding is not None:
        rec.finding(result.finding)
        status = Status.FAIL
    else:
        status = Status.PASS if result.known else Status.SKIP
    rec.check("dns.dkim", status, result.detail, duration_ms=t.ms)
    return result


async def _dmarc(ctx: Context, rec: Recorder, domain: str, spf_result: SpfResult, dkim: DkimResult) -> None:
    with rec.timed() as t:
        try:
            found = await _dmarc_record(ctx, domain)
        except DnsError as exc:
            said_ = Text("could not look up DMARC: {error}", error=said(exc))
            rec.check("dns.dmarc", Status.WARN, said_, duration_ms=t.ms)
            return
    if isinstance(found, Finding):
        rec.finding(found)
        status = Status.WARN if found.code is Code.DNS_DMARC_MISSING else Status.FAIL
        rec.check("dns.dmarc", status, found.evidence, duration_ms=t.ms)
        return
    where, record, parsed = found
    policy = parsed.sp if where != domain else parsed.p
    status, detail = Status.PASS, f"_dmarc.{where}: {record}"
    if policy in ("quarantine", "reject"):
        status, detail = _alignment(ctx, rec, domain, parsed, spf_result, dkim, f"_dmarc.{where}: {record}")
    rec.check("dns.dmarc", status, detail, duration_ms=t.ms)


async def _dmarc_record(ctx: Context, domain: str) -> Finding | tuple[str, str, dmarc.Policy]:
    """(where, record, policy) of the policy that applies to ``domain`` (RFC 7489 §6.6.3:
    the domain's own record, else its organizational domain's)."""
    tried = []
    for where in dict.fromkeys((domain, dmarc.organizational_domain(domain))):
        answer = await ctx.dns.txt(f"_dmarc.{where}")
        records = [r for r in answer.records if r.lower().replace(" ", "").startswith("v=dmarc1")]
        tried.append(join(": ", [f"TXT _dmarc.{where}", answer.evidence]))
        if not records:
            continue
        if len(records) > 1:
            several = " | ".join(records)
            return _invalid(
                Text(
                    "_dmarc.{name}: {records} (several DMARC records: none applies)",
                    name=where,
                    records=several,
                )
            )
        try:
            return where, records[0], dmarc.parse(records[0])
        except dmarc.DmarcError as exc:
            return _invalid(
                Text("_dmarc.{name}: {record} ({error})", name=where, record=records[0], error=said(exc))
            )
    return Finding.of(
        Code.DNS_DMARC_MISSING,
        join("; ", tried),
        (
            Text(
                'Publish a TXT record at _dmarc.{domain}, e.g. "v=DMARC1; p=none; '
                'rua=mailto:dmarc@{domain}", '
                "and move to p=quarantine once the reports show your mail passes.",
                domain=domain,
            ),
        ),
    )


def _invalid(evidence: str) -> Finding:
    return Finding.of(
        Code.DNS_DMARC_INVALID,
        evidence,
        (
            Text(
                'Publish exactly one record, e.g. "v=DMARC1; p=quarantine; rua=mailto:dmarc@<your domain>": '
                "tags are separated by semicolons and p= is none, quarantine or reject."
            ),
        ),
    )


def _alignment(
    ctx: Context,
    rec: Recorder,
    domain: str,
    parsed: dmarc.Policy,
    spf_result: SpfResult,
    dkim: DkimResult,
    record: str,
) -> tuple[Status, str]:
    spf_aligned: bool | None = spf_result.covers
    if ctx.settings.sending.provider is not Provider.SMTP:
        spf_aligned = None if spf_aligned else False  # the provider's own bounce domain, unless customised
    dkim_aligned: bool | None = None
    if dkim.known:
        dkim_aligned = dkim.aligned_domain is not None and dmarc.aligned(
            dkim.aligned_domain, domain, parsed.adkim
        )
    if spf_aligned or dkim_aligned:
        how = "DKIM" if dkim_aligned else "SPF"
        return Status.PASS, Text(
            "{record} ({method} aligns with {domain})", record=record, method=how, domain=domain
        )
    if spf_aligned is None or dkim_aligned is None:
        return Status.WARN, Text(
            "{record} (whether SPF or DKIM aligns could not be told from DNS)", record=record
        )
    rec.finding(
        Finding.of(
            Code.DNS_DMARC_MISALIGNED,
            Text("{record}; SPF: not aligned; DKIM: {dkim}", record=record, dkim=dkim.detail),
            (
                Text(
                    "Sign with DKIM for {domain} (DKIM_SELECTOR and DKIM_PRIVATE_KEY, or the provider's "
                    "domain "
                    "authentication) so that d= matches the From domain.",
                    domain=domain,
                ),
                Text("Or make the SPF record of {domain} authorize the sending server.", domain=domain),
            ),
        )
    )
    return Status.FAIL, record


async def _recipient(ctx: Context, rec: Recorder, domain: str) -> None:
    if not domain:
        rec.check("dns.recipient", Status.SKIP, Text("no recipient (--to, TEST_EMAIL or MAIL_FROM)"))
        return
    with rec.timed() as t:
        try:
            status, detail, finding = await _recipient_verdict(ctx, domain)
        except DnsError as exc:
            status, finding = Status.WARN, None
            detail = Text("could not look up {domain}: {error}", domain=domain, error=said(exc))
    if finding is not None:
        rec.finding(finding)
    rec.check("dns.recipient", status, detail, duration_ms=t.ms)


async def _recipient_verdict(ctx: Context, domain: str) -> tuple[Status, str, Finding | None]:
    answer = await ctx.dns.lookup(domain, "MX")
    steps = (
        Text("Check the recipient address for a typo in its domain."),
        Text("A domain that should receive mail needs an MX record (or at least an address record)."),
    )
    if answer.records:
        mx = await ctx.dns.mx(domain)
        if [host for _, host in mx] == [""]:
            evidence: str = Text(
                "MX {name}: {answer} (null MX, RFC 7505: the domain accepts no mail)",
                name=domain,
                answer=answer.evidence,
            )
            return Status.FAIL, evidence, Finding.of(Code.DNS_RECIPIENT_NO_MX, evidence, steps)
        return Status.PASS, join(": ", [f"MX {domain}", answer.evidence]), None
    if not answer.exists:
        evidence = join(": ", [f"MX {domain}", answer.evidence])
        return Status.FAIL, evidence, Finding.of(Code.DNS_RECIPIENT_NO_MX, evidence, steps)
    addresses = await ctx.dns.addresses(domain)  # RFC 5321 §5.1: no MX, the address record is the MX
    if addresses:
        said_ = Text(
            "no MX; mail goes to {name}'s address ({addresses})", name=domain, addresses=", ".join(addresses)
        )
        return Status.PASS, said_, None
    evidence = Text("MX {name}: no record; A/AAAA {name}: no record", name=domain)
    return Status.FAIL, evidence, Finding.of(Code.DNS_RECIPIENT_NO_MX, evidence, steps)
