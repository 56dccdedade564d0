from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "postwarden.alerts"
    label = "alerts"
