from django.apps import AppConfig


class TransportsConfig(AppConfig):
    name = "postwarden.transports"
    label = "transports"
