"""DKIM in the DNS stage: is a key published at the selector in use, and is it the key
Postwarden signs with?

The published ``p=`` is compared with the public half of ``DKIM_PRIVATE_KEY`` as key
material (RSA modulus and exponent, or the raw Ed25519 key), not as text: the same key
may be published as SubjectPublicKeyInfo or as a bare PKCS#1 structure.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postwarden.core.dns import Answer, DnsClient, DnsError
from postwarden.core.doctor.model import Code, Finding
from postwarden.core.doctor.senders import Sender
from postwarden.core.i18n import Text, join, said
from postwarden.core.secrets import Secret


def generate_step(domain: str) -> Text:
    return Text(
        "Generate a key pair with `postwarden dkim generate --selector pw1 --domain {domain}`, publish the "
        "TXT "
        "record it prints, and set DKIM_SELECTOR and DKIM_PRIVATE_KEY (or DKIM_PRIVATE_KEY_FILE).",
        domain=domain,
    )


@dataclass(frozen=True, slots=True)
class DkimResult:
    """``aligned_domain``: the d= domain whose key was found (None: no usable key);
    ``known``: False when DNS alone cannot tell (per-account selectors)."""

    finding: Finding | None
    detail: str
    aligned_domain: str | None = None
    known: bool = True


def tags(record: str) -> dict[str, str]:
    """``"v=DKIM1; k=rsa; p=MII…"`` -> {"v": "DKIM1", "k": "rsa", "p": "MII…"} (RFC 6376 §3.2)."""
    found: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            found[name.strip().lower()] = "".join(value.split())
    return found


def _dkim_records(answer: Answer) -> list[str]:
    return [r for r in answer.records if "p=" in r.replace(" ", "")]


def publish_steps(name: str) -> tuple[Text, ...]:
    return (
        Text(
            "Publish the TXT record at {name}: `postwarden dkim generate` prints it for a new key; for the "
            "key "
            "in DKIM_PRIVATE_KEY the value is v=DKIM1; k=rsa; p=<its public key>.",
            name=name,
        ),
        Text("DNS changes can take up to the record's TTL to be seen everywhere."),
    )


def mismatch_steps(name: str) -> tuple[Text, ...]:
    return (
        Text(
            "The key published at {name} is not the public half of DKIM_PRIVATE_KEY: receivers will reject "
            "the signature.",
            name=name,
        ),
        Text(
            "Publish the TXT record for the configured key (`postwarden dkim generate` prints one for a new "
            "key), or set DKIM_PRIVATE_KEY to the private key that belongs to the published record."
        ),
    )


async def check_own_key(client: DnsClient, selector: str, domain: str, private_key: Secret) -> DkimResult:
    """Postwarden signs (DKIM_PRIVATE_KEY): the key at ``selector._domainkey.domain`` must match."""
    name = f"{selector}._domainkey.{domain}"
    answer = await client.txt(name)
    records = _dkim_records(answer)
    if not records:
        evidence = join(": ", [f"TXT {name}", answer.evidence])
        return DkimResult(Finding.of(Code.DNS_DKIM_MISSING, evidence, publish_steps(name)), evidence)
    published = tags(records[0]).get("p", "")
    if not published:
        evidence = Text(
            "TXT {name}: {record} (p= is empty: the key is revoked, RFC 6376 §3.6.1)",
            name=name,
            record=records[0],
        )
        return DkimResult(Finding.of(Code.DNS_DKIM_MISSING, evidence, (generate_step(domain),)), evidence)
    return _compare(name, records[0], published, private_key, domain)


def _compare(name: str, record: str, published: str, private_key: Secret, domain: str) -> DkimResult:
    try:
        same = _same_key(private_key, published)
    except ValueError as exc:
        evidence = Text("DKIM_PRIVATE_KEY cannot be used: {error}", error=said(exc))
        finding = Finding.of(
            Code.DNS_DKIM_MISMATCH,
            evidence,
            (generate_step(domain),),
            title=Text("The DKIM private key cannot be read"),
        )
        return DkimResult(finding, evidence)
    if not same:
        published = f"TXT {name}: {record}"
        return DkimResult(Finding.of(Code.DNS_DKIM_MISMATCH, published, mismatch_steps(name)), published)
    return DkimResult(
        None, Text("the key at {name} matches DKIM_PRIVATE_KEY", name=name), aligned_domain=domain
    )


async def check_service_keys(
    client: DnsClient, domain: str, sender: Sender | None, selector: str | None
) -> DkimResult:
    """Postwarden does not sign: the server or provider must. ``selector`` (DKIM_SELECTOR
    without a private key) names the one it uses; else the service's known selectors."""
    selectors = (selector,) if selector else (sender.dkim_selectors if sender else ())
    if not selectors:
        if sender is not None:  # SES, Postmark: selectors are per-account tokens
            return DkimResult(
                None,
                Text(
                    "{sender} signs with per-domain selectors that DNS alone cannot list; set DKIM_SELECTOR "
                    "to "
                    "have it checked",
                    sender=sender.name,
                ),
                known=False,
            )
        evidence = Text("DKIM_PRIVATE_KEY is not set and DKIM_SELECTOR names no selector")
        return DkimResult(
            Finding.of(
                Code.DNS_DKIM_MISSING,
                evidence,
                (
                    generate_step(domain),
                    Text(
                        "If your SMTP server signs the mail itself, set DKIM_SELECTOR to its selector so the "
                        "doctor can check the published key."
                    ),
                ),
                title=Text("No DKIM signing is configured"),
            ),
            evidence,
        )
    names = [f"{s}._domainkey.{domain}" for s in selectors]
    answers = await asyncio.gather(*(client.txt(n) for n in names), return_exceptions=True)
    found = [n for n, a in zip(names, answers, strict=True) if isinstance(a, Answer) and _dkim_records(a)]
    if found:
        return DkimResult(
            None, Text("DKIM key published at {names}", names=", ".join(found)), aligned_domain=domain
        )
    errors = [a for a in answers if isinstance(a, DnsError)]
    if errors:
        raise errors[0]
    evidence = Text("TXT {names}: no record", names=", ".join(names))
    publish = (
        Text(
            "Publish the {sender} DKIM record(s) for {domain}: the provider's domain-authentication page "
            "lists "
            "them (usually CNAME records).",
            sender=sender.name,
            domain=domain,
        )
        if sender and not selector
        else Text(
            "Publish the DKIM record(s) for {domain}: the provider's domain-authentication page lists them "
            "(usually CNAME records).",
            domain=domain,
        )
    )
    return DkimResult(Finding.of(Code.DNS_DKIM_MISSING, evidence, (publish, generate_step(domain))), evidence)


def _same_key(private_key: Secret, published_b64: str) -> bool:
    """Raises ValueError (without the key) when either side cannot be read."""
    text = private_key.reveal().replace("\\n", "\n").replace("\r\n", "\n").strip() + "\n"
    try:
        private = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(Text("not a PEM private key without a passphrase")) from None
    try:
        raw = base64.b64decode(published_b64, validate=True)
    except binascii.Error:
        return False
    if isinstance(private, ed25519.Ed25519PrivateKey):
        mine = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw == mine
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError(Text("a {kind} cannot sign DKIM (RSA or Ed25519 only)", kind=type(private).__name__))
    try:
        published = serialization.load_der_public_key(raw)
    except ValueError:
        return False
    return (
        isinstance(published, rsa.RSAPublicKey)
        and published.public_numbers() == private.public_key().public_numbers()
    )
