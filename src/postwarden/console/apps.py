from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "postwarden.console"
    label = "console"
