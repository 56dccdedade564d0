from __future__ import annotations

from pathlib import Path

from postwarden.core.config.docs import render

DOC = Path(__file__).parents[3] / "docs" / "configuration.md"


def test_it_keeps_docs_configuration_equal_to_the_variables_table() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run `python -m postwarden.core.config.docs > docs/configuration.md`"
    )


def test_it_documents_every_variable_of_the_contract() -> None:
    text = render()
    for name in (
        "SMTP_HOST",
        "SMTP_SECURITY",
        "MAIL_ALLOWED_DOMAINS",
        "DKIM_PRIVATE_KEY",
        "POSTWARDEN_DNS_SERVER",
    ):
        assert f"`{name}`" in text
