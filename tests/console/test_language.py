"""Which language a console page is in (console/language.py): the user's own choice, else
the instance default (POSTWARDEN_LANGUAGE, from the environment or saved in the console),
else the browser's Accept-Language, else English; and how it is written (dir, digits, dates)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils.html import escape

from postwarden.accounts.models import User
from postwarden.configstore.runtime import save
from postwarden.console import charts, formats
from postwarden.console.language import active
from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db
HTML_TAG = re.compile(r"<html lang=\"([^\"]+)\" dir=\"([^\"]+)\">")


def html_of(client: Client, url: str = "/", **headers: str) -> tuple[str, str, str]:
    """(lang, dir, page) of a console page."""
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    page = response.content.decode()
    found = HTML_TAG.search(page)
    assert found, page[:200]
    return found.group(1), found.group(2), page


def test_english_left_to_right_when_nothing_chooses(admin_client: Client, clean_env: None) -> None:
    lang, direction, page = html_of(admin_client)
    assert (lang, direction) == ("en", "ltr")
    assert "<h1>Overview</h1>" in page


def test_the_browsers_accept_language_picks_persian_when_nothing_else_is_set(
    admin_client: Client, clean_env: None
) -> None:
    lang, direction, page = html_of(admin_client, "/", Accept_Language="de-DE,fa-IR;q=0.8,en;q=0.5")
    assert (lang, direction) == ("fa", "rtl")
    assert "<h1>نمای کلی</h1>" in page
    response = admin_client.get("/", headers={"Accept-Language": "fa"})
    assert response.headers["Content-Language"] == "fa"
    assert "Accept-Language" in response.headers["Vary"]


def test_the_login_page_follows_the_browser_before_anyone_signs_in(clean_env: None) -> None:
    lang, direction, page = html_of(Client(), "/login/", Accept_Language="fa")
    assert (lang, direction) == ("fa", "rtl")
    assert "ورود" in page


def test_the_instance_default_from_the_environment_beats_the_browser(
    admin_client: Client, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTWARDEN_LANGUAGE", "fa")
    assert html_of(admin_client, "/", Accept_Language="en")[:2] == ("fa", "rtl")


def test_the_instance_default_saved_in_the_console_beats_the_browser(
    admin: User, admin_client: Client, clean_env: None
) -> None:
    save({"POSTWARDEN_LANGUAGE": "fa"}, admin)
    assert html_of(admin_client, "/", Accept_Language="en")[:2] == ("fa", "rtl")


def test_the_users_own_choice_beats_the_instance_default(
    admin: User, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTWARDEN_LANGUAGE", "fa")
    admin.language = "en"
    admin.save()
    lang, direction, page = html_of(logged_in(admin), "/", Accept_Language="fa")
    assert (lang, direction) == ("en", "ltr")
    assert "<h1>Overview</h1>" in page


def test_a_user_picks_their_language_and_calendar_on_their_own_page(
    viewer: User, viewer_client: Client, clean_env: None
) -> None:
    """Every role reaches its own page; the next page is in the language chosen."""
    response = viewer_client.post("/account/", {"language": "fa", "calendar": "persian"})
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert (viewer.language, viewer.calendar) == ("fa", "persian")
    lang, direction, page = html_of(viewer_client, "/account/")
    assert (lang, direction) == ("fa", "rtl")
    assert "ترجیحات شما ذخیره شد." in page  # the flash, in the new language
    assert 'value="persian" selected' in page
    response = viewer_client.post("/account/", {"language": "de", "calendar": ""})
    assert response.status_code == 200
    viewer.refresh_from_db()
    assert viewer.language == "fa"  # refused: not a language the console speaks


def test_the_api_stays_english_whatever_the_browser_asks(clean_env: None) -> None:
    response = Client().get("/api/v1/messages/m_nope", headers={"Accept-Language": "fa"})
    assert response.status_code == 401
    assert "Content-Language" not in response.headers
    assert response.json()["detail"].isascii()


def test_persian_pages_write_numbers_in_persian_digits_and_dates_in_the_chosen_calendar() -> None:
    moment = dt.datetime(2026, 12, 6, 18, 5, 9, tzinfo=dt.UTC)
    with active("en"):
        assert formats.moment(moment, "second") == "2026-12-06 18:05:09"
        assert formats.number(12345) == "12,345"
    with active("fa"):
        assert formats.moment(moment, "minute") == "۲۰۲۶-۱۲-۰۶ ۱۸:۰۵"
        assert formats.number(12345) == "۱۲٬۳۴۵"
    with active("fa", "persian"):
        assert formats.moment(moment, "date") == "۱۴۰۵/۰۹/۱۵"
        assert formats.moment(moment, "time") == "۱۸:۰۵:۰۹"
    with active("en", "persian"):
        # Solar Hijri is a choice in Persian; an English page keeps Gregorian dates
        assert formats.moment(moment, "date") == "2026-12-06"


def test_times_and_chart_labels_keep_their_zeros_in_persian_digits() -> None:
    """A time's fields are written digit by digit, not as numbers: 09:05 and 012 ms keep
    their zeros, and no thousands separator enters a year."""
    moment = dt.datetime(2026, 12, 6, 9, 5, 0, 12_000, tzinfo=dt.UTC)
    with active("en"):
        assert formats.moment(moment, "ms") == "2026-12-06 09:05:00.012"
        assert formats.moment(moment, "clock") == "09:05"
        assert formats.moment(moment, "day") == "12-06"
    with active("fa"):
        assert formats.moment(moment, "ms") == "۲۰۲۶-۱۲-۰۶ ۰۹:۰۵:۰۰.۰۱۲"
        assert formats.moment(moment, "clock") == "۰۹:۰۵"
        assert formats.moment(moment, "day") == "۱۲-۰۶"
        assert formats.digits("2026 and 5") == "۲۰۲۶ and ۵"
    with active("fa", "persian"):
        assert formats.moment(moment, "day") == "۰۹/۱۵"


def test_a_canarys_day_chart_is_labelled_in_the_readers_calendar() -> None:
    days = [dt.datetime(2026, 12, 6, tzinfo=dt.UTC) + dt.timedelta(days=i) for i in range(3)]
    counts = {days[0]: {"inbox": 2}, days[2]: {"junk": 1}}
    with active("fa", "persian"):
        chart = charts.stacked(days, counts, ("inbox", "junk"), label_shape="day", label_every=1)
    assert [label.text for label in chart.labels[2:]] == ["۰۹/۱۵", "۰۹/۱۶", "۰۹/۱۷"]
    assert [bar.title.split(" ", 1)[0] for bar in chart.bars] == ["۰۹/۱۵", "۰۹/۱۷"]
    assert not any(c.isascii() and c.isdigit() for bar in chart.bars for c in bar.title)


def test_a_persian_page_shows_solar_hijri_dates_when_the_user_chose_them(
    admin: User, clean_env: None
) -> None:
    from postwarden.accounts.models import ApiKey

    key, _plain = ApiKey.issue("billing", ["send"], created_by=admin)
    ApiKey.objects.filter(pk=key.pk).update(created_at=dt.datetime(2026, 3, 21, 10, 0, tzinfo=dt.UTC))
    admin.language, admin.calendar = "fa", "persian"
    admin.save()
    page = html_of(logged_in(admin), "/api-keys/")[2]
    assert "۱۴۰۵/۰۱/۰۱ ۱۰:۰۰" in page  # Nowruz 1405
    admin.calendar = "gregorian"
    admin.save()
    assert "۲۰۲۶-۰۳-۲۱ ۱۰:۰۰" in html_of(logged_in(admin), "/api-keys/")[2]


def test_a_doctor_run_reads_in_the_language_of_whoever_looks_at_it_later(
    settings_user: User, clean_env: None
) -> None:
    """The run is kept as the JSON contract has it (English); its sentences are kept in
    every shipped language too, so a Persian reader gets the findings in Persian."""
    english = logged_in(settings_user)
    assert english.post("/doctor/run/").status_code == 302
    from postwarden.console.models import DoctorRun

    run = DoctorRun.objects.get()
    kept = [path for path in run.texts["fa"] if path.startswith("/findings/") and path.endswith("/title")]
    assert kept, run.texts  # the doctor's finding titles are core Text
    index = int(kept[0].split("/")[2])
    title = run.report["findings"][index]["title"]
    persian_title = run.texts["fa"][kept[0]]
    assert title.isascii()
    assert not persian_title.isascii()
    assert escape(title) in html_of(english, "/doctor/")[2]
    settings_user.language = "fa"
    settings_user.save()
    page = html_of(logged_in(settings_user), "/doctor/")[2]
    assert escape(persian_title) in page
    assert escape(title) not in page
