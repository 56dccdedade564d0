"""The console's URL map. Every route goes through :func:`route`, which wraps the view
in its rule from :data:`postwarden.console.access.ACCESS` (a route without a rule fails
at import, so no page can be mounted unguarded)."""

from __future__ import annotations

from django.urls import URLPattern, path

from postwarden.console.access import View, guarded
from postwarden.console.views import (
    account,
    alerts,
    apikeys,
    auth,
    bounces,
    canaries,
    captured,
    deliveries,
    doctor,
    held,
    logs,
    mailtemplates,
    oauth2,
    overview,
    people,
    settings,
    suppressions,
    users,
)

app_name = "console"


def route(pattern: str, view: View, name: str) -> URLPattern:
    return path(pattern, guarded(name, view), name=name)


urlpatterns: list[URLPattern] = [
    route("", overview.overview, "overview"),
    route("login/", auth.LoginView.as_view(), "login"),
    route("logout/", auth.logout_view, "logout"),
    route("settings/", settings.email_settings, "settings"),
    route("settings/test-connection/", settings.test_connection, "settings_test_connection"),
    route("settings/send-test/", settings.send_test_mail, "settings_send_test"),
    route("settings/dkim/generate/", settings.dkim_generate, "settings_dkim_generate"),
    route("settings/dkim/check/", settings.dkim_check, "settings_dkim_check"),
    route("settings/oauth2/connect/", oauth2.connect, "settings_oauth2_connect"),
    route("settings/oauth2/callback/", oauth2.callback, "settings_oauth2_callback"),
    route("deliveries/", deliveries.deliveries, "deliveries"),
    route("deliveries/<str:public_id>/", deliveries.message, "message"),
    route("deliveries/<str:public_id>/html/", deliveries.message_html, "message_html"),
    route("deliveries/<str:public_id>/raw/", deliveries.message_raw, "message_raw"),
    route(
        "deliveries/<str:public_id>/attachments/<int:index>/",
        deliveries.message_attachment,
        "message_attachment",
    ),
    route("templates/", mailtemplates.templates, "templates"),
    route("templates/preview/", mailtemplates.template_preview, "template_preview"),
    route("templates/<str:name>/", mailtemplates.template, "template"),
    route("templates/<str:name>/diff/", mailtemplates.template_diff, "template_diff"),
    route("templates/<str:name>/send-test/", mailtemplates.template_send_test, "template_send_test"),
    route("templates/<str:name>/delete/", mailtemplates.template_delete, "template_delete"),
    route("held/", held.held, "held"),
    route("held/action/", held.held_action, "held_action"),
    route("suppressions/", suppressions.suppressions, "suppressions"),
    route("suppressions/export.csv", suppressions.suppressions_csv, "suppressions_csv"),
    route("suppressions/remove/", suppressions.suppression_remove, "suppression_remove"),
    route("bounces/", bounces.bounces, "bounces"),
    route("doctor/", doctor.doctor, "doctor"),
    route("doctor/run/", doctor.doctor_run, "doctor_run"),
    route("captured/", captured.captured, "captured"),
    route("captured/<str:captured_id>/", captured.captured_message, "captured_message"),
    route("captured/<str:captured_id>/html/", captured.captured_html, "captured_html"),
    route("captured/<str:captured_id>/raw/", captured.captured_raw, "captured_raw"),
    route(
        "captured/<str:captured_id>/attachments/<int:index>/",
        captured.captured_attachment,
        "captured_attachment",
    ),
    route("people/", people.people, "people"),
    route("people/members/<int:pk>/", people.member, "member"),
    route("people/groups/<int:pk>/", people.group, "group"),
    route("api-keys/", apikeys.apikeys, "apikeys"),
    route("api-keys/<int:pk>/revoke/", apikeys.apikey_revoke, "apikey_revoke"),
    route("account/", account.account, "account"),
    route("users/", users.users, "users"),
    route("users/<int:pk>/", users.user, "user"),
    route("logs/", logs.logs, "logs"),
    route("alerts/", alerts.alerts, "alerts"),
    route("alerts/destinations/remove/", alerts.alert_destination_remove, "alert_destination_remove"),
    route("alerts/test/", alerts.alert_test, "alert_test"),
    route("canaries/", canaries.canaries, "canaries"),
    route("canaries/<int:pk>/", canaries.canary, "canary"),
    route("canaries/<int:pk>/run/", canaries.canary_run, "canary_run"),
    route("canaries/<int:pk>/delete/", canaries.canary_delete, "canary_delete"),
]
