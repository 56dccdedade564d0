"""load() picks the importer named by --from and says clearly what it does not know."""

from __future__ import annotations

import pytest

from postwarden.core.config.importers import Imported, ImporterError, load


def test_it_imports_nothing_from_env_because_the_resolver_reads_it() -> None:
    result = load("env", environ={"SMTP_HOST": "smtp.example.com"})
    assert result == Imported(notes=["--from env: the environment is read as it is, nothing to translate"])


def test_it_reads_metabase_variables_from_the_given_environ_only() -> None:
    result = load("metabase-env", environ={"MB_EMAIL_SMTP_HOST": "smtp.example.com", "SMTP_HOST": "other"})
    assert result.values["SMTP_HOST"] == "smtp.example.com"
    assert result.origins["SMTP_HOST"] == "MB_EMAIL_SMTP_HOST"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "metabase",
            "unknown import source 'metabase': use one of env, metabase-env, mattermost:PATH, django:MODULE",
        ),
        ("", "unknown import source '': use one of env, metabase-env, mattermost:PATH, django:MODULE"),
        (
            "mattermost:",
            "mattermost: give the path of config.json, e.g. mattermost:/opt/mattermost/config/config.json",
        ),
        ("django: ", "django: give a settings module, e.g. django:mysite.settings"),
    ],
)
def test_it_refuses_what_it_does_not_know(source: str, message: str) -> None:
    with pytest.raises(ImporterError) as info:
        load(source, environ={})
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
