from django.apps import AppConfig


class RelayConfig(AppConfig):
    name = "postwarden.relay"
    label = "relay"
