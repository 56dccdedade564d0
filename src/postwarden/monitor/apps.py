from django.apps import AppConfig


class MonitorConfig(AppConfig):
    name = "postwarden.monitor"
    label = "monitor"
