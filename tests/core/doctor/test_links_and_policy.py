"""The links stage (APP_URL, templates, recent messages) and the policy stage from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from postwarden.core.doctor.model import Code, Severity, Status
from postwarden.core.doctor.service import ServiceFacts, StoredTemplate
from tests.core.doctor.helpers import check, codes, doctor, finding, settings

GOOD = {"SMTP_HOST": "smtp.example.com", "MAIL_FROM": "ops@example.com"}
LINKS = frozenset({"links"})
POLICY = frozenset({"policy"})


def links(
    tmp_path: Path,
    app_url: str | None,
    templates: dict[str, str] | None = None,
    service: ServiceFacts | None = None,
):  # type: ignore[no-untyped-def]
    for name, text in (templates or {}).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {**GOOD, **({"APP_URL": app_url} if app_url else {})}
    return doctor(settings(**env), only=LINKS, template_dirs=(tmp_path,), service=service)


def test_it_accepts_a_public_https_app_url(tmp_path: Path) -> None:
    report = links(
        tmp_path, "https://app.example.com", {"welcome.html": '<a href="https://app.example.com/x">'}
    )
    assert codes(report) == []
    assert check(report, "links.templates").detail == "1 template checked"


def test_it_warns_when_app_url_is_missing(tmp_path: Path) -> None:
    found = finding(links(tmp_path, None), "links.app_url_missing")
    assert (found.severity, found.evidence) == (Severity.WARNING, "APP_URL is not set")


def test_it_warns_about_http(tmp_path: Path) -> None:
    found = finding(links(tmp_path, "http://app.example.com"), "links.insecure")
    assert (found.severity, found.evidence) == (
        Severity.WARNING,
        "APP_URL=http://app.example.com uses http://",
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost:3000",
        "http://172.31.39.136",
        "https://127.0.0.1",
        "https://[::1]/app",
        "https://10.0.0.5",
        "https://app.localhost",
    ],
)
def test_it_refuses_an_app_url_recipients_cannot_reach(tmp_path: Path, url: str) -> None:
    found = finding(links(tmp_path, url), "links.host_mismatch")
    assert found.severity is Severity.ERROR
    assert found.evidence.startswith(f"APP_URL={url} names ")


def test_it_allows_an_intranet_name(tmp_path: Path) -> None:
    # Metabase's over-strict check broke intranet installs (mission-anchors L4)
    assert codes(links(tmp_path, "https://metabase.intranet")) == []


def test_it_finds_template_links_to_another_host(tmp_path: Path) -> None:
    report = links(
        tmp_path,
        "https://app.example.com",
        {
            "reset.txt": "Reset: http://localhost:8000/reset/{{ token }}\n",
            "digest.html": '<a href="https://old.example.com/digest">see</a>',
        },
    )
    found = finding(report, "links.host_mismatch")
    assert (
        found.evidence
        == "digest.html: https://old.example.com/digest; reset.txt: http://localhost:8000/reset/"
    )
    assert check(report, "links.templates").status is Status.FAIL


def test_it_finds_http_links_in_templates(tmp_path: Path) -> None:
    report = links(tmp_path, "https://app.example.com", {"a.html": '<a href="http://app.example.com/x">'})
    assert finding(report, "links.insecure").evidence == "a.html: http://app.example.com/x"


def test_it_checks_recent_messages_only_for_links_that_cannot_work(tmp_path: Path) -> None:
    facts = ServiceFacts(
        recent_messages=(
            ("m_1", "Docs: https://docs.python.org/3/ and your report: https://app.example.com/r/1"),
            ("m_2", "Reset your password at http://172.31.39.136/auth/reset_password/abc"),
        )
    )
    report = links(tmp_path, "https://app.example.com", service=facts)
    assert (
        finding(report, "links.host_mismatch").evidence == "m_2: http://172.31.39.136/auth/reset_password/abc"
    )
    assert check(report, "links.messages").detail.startswith("2 messages checked: m_2:")


def test_it_skips_messages_without_a_database(tmp_path: Path) -> None:
    report = links(tmp_path, "https://app.example.com")
    assert (check(report, "links.messages").status, check(report, "links.templates").status) == (
        Status.SKIP,
        Status.SKIP,
    )


def test_it_allows_every_domain_when_none_is_listed() -> None:
    report = doctor(settings(**GOOD), only=POLICY)
    assert (
        check(report, "policy.approved_domains").detail
        == "MAIL_ALLOWED_DOMAINS is empty: every domain is allowed"
    )


def test_it_refuses_a_recipient_outside_the_approved_domains() -> None:
    report = doctor(
        settings(**GOOD, MAIL_ALLOWED_DOMAINS="example.org,example.net"),
        only=POLICY,
        to="someone@Example.COM",
    )
    found = finding(report, "policy.domain_not_approved")
    assert found.evidence == (
        "someone@Example.COM: example.com is not in MAIL_ALLOWED_DOMAINS=example.org,example.net"
    )
    assert report.exit_status == 1


def test_it_accepts_an_approved_idn_domain() -> None:
    report = doctor(
        settings(**GOOD, MAIL_ALLOWED_DOMAINS="bücher.example"), only=POLICY, to="a@BÜCHER.example"
    )
    assert codes(report) == []


def test_it_exempts_members() -> None:
    facts = ServiceFacts(members=frozenset({"boss@example.com"}))
    report = doctor(
        settings(**GOOD, MAIL_ALLOWED_DOMAINS="example.org"),
        only=POLICY,
        to="boss@example.com",
        service=facts,
    )
    assert check(report, "policy.approved_domains").detail == "boss@example.com is a member (exempt)"


def _stored(*templates: StoredTemplate) -> ServiceFacts:
    return ServiceFacts(templates=templates)


def test_it_renders_stored_templates_with_their_samples_and_judges_their_links(tmp_path: Path) -> None:
    facts = _stored(
        StoredTemplate(
            "welcome",
            3,
            "Hi {{ name }}",
            None,
            '<a href="{{ url }}">go</a>',
            {"name": "A", "url": "https://app.example.com/w"},
        ),
        StoredTemplate(
            "password-reset", 2, "Reset", "{{ reset_url }}", None, {"reset_url": "http://localhost:8000/r/1"}
        ),
    )
    report = links(tmp_path, "https://app.example.com", service=facts)
    assert finding(report, "links.host_mismatch").evidence == (
        "template password-reset version 2: http://localhost:8000/r/1 "
        "(points at localhost, which recipients cannot reach)"
    )
    result = check(report, "links.templates")
    assert result.status is Status.FAIL
    assert result.detail.startswith(
        "2 templates checked: template password-reset version 2: http://localhost"
    )


def test_it_names_a_stored_template_that_does_not_render_with_version_and_line(tmp_path: Path) -> None:
    facts = _stored(
        StoredTemplate("password-reset", 4, "Reset", None, "<p>Hi</p>\n<a href='{{ reset_url }}'>r</a>", {}),
        StoredTemplate("digest", 1, "Digest", "{{ items | sum }}", None, {"items": [1, "a"]}),
    )
    result = check(links(tmp_path, "https://app.example.com", service=facts), "links.templates")
    assert result.status is Status.FAIL
    assert "template password-reset version 4, html line 2: variable 'reset_url' is missing" in result.detail
    assert "template digest version 1, text line 1: TypeError" in result.detail
    report = links(tmp_path, "https://app.example.com", service=facts)
    # one finding names both, each with the steps that fix it
    [found] = [f for f in report.findings if f.code is Code.LINKS_TEMPLATE_BROKEN]
    assert found.evidence.startswith(
        "template password-reset version 4, html line 2: variable 'reset_url' is missing; "
        "template digest version 1, text line 1: TypeError"
    )
    assert found.steps[0].startswith("Fix the html part at line 2 of template password-reset")
    assert "Otherwise give reset_url in the sample variables of password-reset" in found.steps[1]
    assert found.steps[2:] == (
        "Fix the text part at line 1 of template digest in the console at /templates/digest/ "
        "(or PUT /api/v1/templates/digest); until then every message naming it is refused.",
    )
    assert report.root_cause is not None
    assert report.root_cause.code is Code.LINKS_TEMPLATE_BROKEN


def test_stored_template_links_may_go_to_allowed_hosts_and_must_not_use_http(tmp_path: Path) -> None:
    facts = _stored(
        StoredTemplate(
            "t",
            1,
            "s",
            "https://docs.example.org/a https://cdn.example.net/x http://app.example.com/y",
            None,
            {},
        )
    )
    env = {
        **GOOD,
        "APP_URL": "https://app.example.com",
        "LINKS_ALLOWED_HOSTS": "docs.example.org, .example.net",
    }
    report = doctor(settings(**env), only=LINKS, template_dirs=(tmp_path,), service=facts)
    assert finding(report, "links.insecure").evidence == (
        "template t version 1: http://app.example.com/y (uses http:// while APP_URL is https://)"
    )
    assert "links.host_mismatch" not in codes(report)


def test_a_link_in_both_parts_of_a_message_is_named_once(tmp_path: Path) -> None:
    url = "http://localhost:8000/reset/1"
    facts = ServiceFacts(recent_messages=(("m_1", f'[reset]({url})\n<a href="{url}">reset</a>'),))
    report = links(tmp_path, "https://app.example.com", service=facts)
    assert finding(report, "links.host_mismatch").evidence == f"m_1: {url}"
