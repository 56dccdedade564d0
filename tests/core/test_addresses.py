"""Addresses are parsed as people write them, validated by email-validator, and never
let a line break through."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import event, given, settings
from hypothesis import strategies as st

from postwarden.core.addresses import (
    Address,
    InvalidAddress,
    _fast_address,
    domain_of,
    normalize_domain,
    parse_address,
    parse_address_list,
    redact,
)


@pytest.mark.parametrize(
    ("text", "name", "addr_spec"),
    [
        ("ops@example.com", "", "ops@example.com"),
        ("Ops <ops@example.com>", "Ops", "ops@example.com"),
        ("  Ops   <ops@example.com>  ", "Ops", "ops@example.com"),
        ("<ops@example.com>", "", "ops@example.com"),
        # mission-anchors E8: Metabase lost mail to a ":" in the From name
        ('"Ops: team, a@b" <ops@example.com>', "Ops: team, a@b", "ops@example.com"),
        ("Ops: team <ops@example.com>", "Ops: team", "ops@example.com"),
        (r'"Say \"hi\" \\ bye" <ops@example.com>', 'Say "hi" \\ bye', "ops@example.com"),
        ("Ünï Çödé <x@example.com>", "Ünï Çödé", "x@example.com"),
        # E7: a display name given in the address field must be understood
        ("Metabase <bi@example.com>", "Metabase", "bi@example.com"),
        ("Ops <OPS@EXAMPLE.COM>", "Ops", "OPS@example.com"),
        ("ops@mailhub", "", "ops@mailhub"),
    ],
)
def test_it_splits_display_names_as_people_write_them(text: str, name: str, addr_spec: str) -> None:
    address = parse_address(text)
    assert (address.display_name, address.addr_spec) == (name, addr_spec)


def test_it_writes_an_idn_domain_in_idna_when_the_local_part_is_ascii() -> None:
    address = parse_address("ops@Bücher.de")
    assert address == Address(
        addr_spec="ops@xn--bcher-kva.de",
        display_name="",
        local="ops",
        domain="xn--bcher-kva.de",
        domain_unicode="bücher.de",
        needs_smtputf8=False,
    )


def test_it_keeps_a_non_ascii_local_part_in_unicode_and_asks_for_smtputf8() -> None:
    address = parse_address("José@bücher.de")
    assert address.addr_spec == "José@bücher.de"
    assert address.needs_smtputf8 is True
    assert address.domain == "xn--bcher-kva.de"


@pytest.mark.parametrize(
    "text",
    [
        "ops@example.com\r\nBcc: victim@example.net",
        "ops@example.com\nBcc: victim@example.net",
        "Ops\r <ops@example.com>",
        "Ops <ops@exa\x00mple.com>",
        '"Ops\n" <ops@example.com>',
    ],
)
def test_it_refuses_a_line_break_or_nul_anywhere(text: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        parse_address(text)
    assert str(info.value) == (
        f"{text!r} contains a line break or NUL character: refused, as it could inject headers"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no-at-sign", "An email address must have an @-sign."),
        ("a@b..com", "An email address cannot have two periods in a row."),
        ("@example.com", "There must be something before the @-sign."),
        ("a@host.invalid", "The part after the @-sign is a special-use or reserved name"),
        ("a@hidden.onion", "The part after the @-sign is a special-use or reserved name"),
        ("a b@example.com", "The email address contains invalid characters before the @-sign"),
    ],
)
def test_it_says_what_is_wrong_and_quotes_the_input(text: str, reason: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        parse_address(text)
    assert str(info.value).startswith(f"{text!r} is not a valid email address: {reason}")


@pytest.mark.parametrize("text", ["root@localhost", "ops@corp.local", "Ops <ops@mailhub.local>"])
def test_it_accepts_local_mail_domains_of_self_hosted_installs(text: str) -> None:
    assert parse_address(text).domain in ("localhost", "corp.local", "mailhub.local")


def test_it_refuses_a_display_name_where_only_an_address_is_allowed() -> None:
    with pytest.raises(InvalidAddress) as info:
        parse_address("Ops <ops@example.com>", allow_display_name=False)
    assert str(info.value) == (
        "'Ops <ops@example.com>' has a display name where only an address is allowed: use 'ops@example.com'"
    )
    assert parse_address("<ops@example.com>", allow_display_name=False).addr_spec == "ops@example.com"


def test_it_splits_a_list_at_commas_and_semicolons_outside_quotes() -> None:
    found = parse_address_list('"Doe, Jane" <jane@example.com>, bob@example.com; <c@example.org>,')
    assert [(a.display_name, a.addr_spec) for a in found] == [
        ("Doe, Jane", "jane@example.com"),
        ("", "bob@example.com"),
        ("", "c@example.org"),
    ]


def test_it_takes_a_sequence_as_one_address_per_item() -> None:
    found = parse_address_list(["Doe, Jane <jane@example.com>", "", "bob@example.com"])
    assert [(a.display_name, a.addr_spec) for a in found] == [
        ("Doe, Jane", "jane@example.com"),
        ("", "bob@example.com"),
    ]


def test_it_names_the_position_of_a_bad_list_item() -> None:
    with pytest.raises(InvalidAddress) as info:
        parse_address_list(["a@example.com", "broken"])
    assert str(info.value).startswith("item 2: 'broken' is not a valid email address")


@pytest.mark.parametrize(
    ("domain", "expected"),
    [("Example.COM", "example.com"), ("Bücher.de.", "xn--bcher-kva.de"), (" mailhub ", "mailhub")],
)
def test_it_normalizes_domains_to_lower_case_idna(domain: str, expected: str) -> None:
    assert normalize_domain(domain) == expected


@pytest.mark.parametrize("domain", ["", "a..b", "x@example.com", "exa mple.com", "a\nb.com", "-x.com"])
def test_it_refuses_a_bad_domain_quoting_it(domain: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        normalize_domain(domain)
    assert str(info.value).startswith(f"{domain!r} is not a")


def test_it_gives_the_idna_domain_of_an_address() -> None:
    assert domain_of("Ops <ops@Bücher.de>") == "xn--bcher-kva.de"


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("alice@example.com", "ali***@example.com"),
        ("Alice <alice@Example.COM>", "ali***@example.com"),
        ("bob@example.com", "b***@example.com"),
        ("jo@example.com", "***@example.com"),
        ("not an address", "***"),
    ],
)
def test_it_redacts_addresses_for_logs(addr: str, expected: str) -> None:
    assert redact(addr) == expected


_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-."
_LDH = "abcXYZ019-."


@settings(max_examples=800, deadline=None)
@given(
    local=st.text(alphabet=_ATEXT, min_size=1, max_size=70),
    domain=st.one_of(
        st.text(alphabet=_LDH, min_size=1, max_size=40),
        st.sampled_from(["example.com", "ab--cd.com", "xn--bcher-kva.de", "x.test", "a.onion", "a.arpa"]),
    ),
)
def test_it_agrees_with_email_validator_on_and_off_the_fast_path(local: str, domain: str) -> None:
    spec = f"{local}@{domain}"
    event("fast path" if _fast_address(spec, "") else "email-validator")
    try:
        slow = validate_email(
            spec, check_deliverability=False, globally_deliverable=False, test_environment=True
        )
    except EmailNotValidError:
        with pytest.raises(InvalidAddress):
            parse_address(spec)
        return
    ours = parse_address(spec)
    assert (ours.addr_spec, ours.local, ours.domain) == (slow.ascii_email, slow.local_part, slow.ascii_domain)
