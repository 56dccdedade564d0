"""The doctor's last line of defence (core/doctor/redact.py) on its own: every form a
server can echo a secret in - the value, its base64, the AUTH PLAIN initial response of
RFC 4616 with and without an authorization identity, AUTH LOGIN's password line, a PEM
key's lines - becomes the mask, wherever it stands in a report.

An independent check beside test_report.py, which sees the same only through a whole
doctor run against a server that echoes the AUTH line."""

from __future__ import annotations

import base64
import dataclasses
import enum

from postwarden.core.config.model import Provider, ProviderSettings, ServiceSettings, Settings, SmtpSettings
from postwarden.core.doctor.redact import Redactor
from postwarden.core.i18n import PSEUDO, Text, join, localize, override
from postwarden.core.secrets import MASK, Secret

USER = "ops@example.com"
PASSWORD = "Pw-d1st1nct1ve-auth-7c2a"


def b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode("ascii")


def test_it_masks_every_base64_form_of_an_auth_exchange() -> None:
    redactor = Redactor([PASSWORD], USER)
    echoed = {
        "PLAIN without authzid": b64(f"\0{USER}\0{PASSWORD}"),
        "PLAIN with authzid": b64(f"{USER}\0{USER}\0{PASSWORD}"),
        "LOGIN password line": b64(PASSWORD),
        "the value itself": PASSWORD,
    }
    for how, form in echoed.items():
        line = f"501 5.5.2 Syntax error in AUTH PLAIN {form} (unexpected)"
        assert redactor.text(line) == f"501 5.5.2 Syntax error in AUTH PLAIN {MASK} (unexpected)", how


def test_it_keeps_the_user_name_and_other_words() -> None:
    redactor = Redactor([PASSWORD], USER)
    text = f"535 5.7.8 Authentication failed for {USER} ({b64(USER)})"
    assert redactor.text(text) == text


def test_a_short_secret_is_masked_only_as_a_whole_word() -> None:
    redactor = Redactor(["ab1", "cd2"], USER)
    assert redactor.text("ab1 grab1 ab1. cd2") == f"{MASK} grab1 {MASK}. {MASK}"


def test_a_secret_of_four_characters_is_masked_anywhere() -> None:
    assert Redactor(["ab1z"], USER).text("ab1z xab1zy") == f"{MASK} x{MASK}y"


def test_it_masks_a_key_that_stands_inside_a_longer_form_whole() -> None:
    pem = (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
        "BKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"
    )
    redactor = Redactor([pem])
    assert redactor.text(f"key: {pem}") == f"key: {MASK}"
    assert redactor.text("line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC leaked") == f"line {MASK} leaked"


def test_a_key_line_of_sixteen_characters_is_masked_on_its_own() -> None:
    key = "-----BEGIN KEY-----\n0123456789abcdef\n0123456789abcde\n-----END KEY-----"
    redactor = Redactor([key])
    assert redactor.text("0123456789abcdef") == MASK
    assert redactor.text("0123456789abcde") == "0123456789abcde"  # shorter lines are too common


def test_empty_secrets_mask_nothing() -> None:
    assert Redactor(["", ""], USER).text("nothing to hide") == "nothing to hide"
    assert Redactor([], None).text("") == ""


class Kind(enum.StrEnum):
    PASSWORD = PASSWORD  # an enum value is a code, never rewritten


@dataclasses.dataclass(frozen=True)
class Finding:
    evidence: str
    lines: tuple[str, ...]
    extra: dict[str, list[str]]
    kind: Kind
    count: int


def test_it_masks_inside_records_lists_tuples_and_dicts() -> None:
    finding = Finding(
        evidence=f"server said {b64(PASSWORD)}",
        lines=(PASSWORD, "ok"),
        extra={"transcript": [f"AUTH PLAIN {b64(chr(0) + USER + chr(0) + PASSWORD)}"]},
        kind=Kind.PASSWORD,
        count=3,
    )
    redacted = Redactor([PASSWORD], USER).report([finding])
    assert redacted == [
        Finding(
            evidence=f"server said {MASK}",
            lines=(MASK, "ok"),
            extra={"transcript": [f"AUTH PLAIN {MASK}"]},
            kind=Kind.PASSWORD,
            count=3,
        )
    ]


def test_for_settings_knows_every_secret_the_settings_hold() -> None:
    settings = Settings(
        smtp=SmtpSettings(host="smtp.example.com", user=USER, password=Secret(PASSWORD)),
        service=ServiceSettings(
            secret_key=Secret("service-key-d1st1nct1ve"), admin_password=Secret("admin-pw-0001")
        ),
        provider=ProviderSettings(
            name=Provider.SENDGRID, secrets={"SENDGRID_API_KEY": Secret("SG.key-0001")}
        ),
    )
    redactor = Redactor.for_settings(settings)
    text = " ".join(
        [b64(f"\0{USER}\0{PASSWORD}"), "service-key-d1st1nct1ve", "admin-pw-0001", "SG.key-0001", PASSWORD]
    )
    assert redactor.text(text) == " ".join([MASK] * 5)


def test_a_translatable_sentence_stays_translatable_with_its_secret_masked() -> None:
    redactor = Redactor(["hunter2-secret"])
    said = Text("refused ({reply}); continuing without TLS", reply="530 bad hunter2-secret")
    masked = redactor.any((said, join("; ", [said, "hunter2-secret"])))
    assert masked == (
        f"refused (530 bad {MASK}); continuing without TLS",
        f"refused (530 bad {MASK}); continuing without TLS; {MASK}",
    )
    assert all(isinstance(value, Text) for value in masked)
    with override(PSEUDO):  # still said through the catalog: the pseudo-locale marks it
        assert localize(masked[0]) == f"⟦refused (530 bad {MASK}); continuing without TLS⟧"
        assert localize(masked[1]).count("⟦") == 1
    assert "hunter2-secret" not in localize(masked[1])
