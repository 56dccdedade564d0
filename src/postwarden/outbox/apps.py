from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "postwarden.outbox"
    label = "outbox"
