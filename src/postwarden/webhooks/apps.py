from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "postwarden.webhooks"
    label = "webhooks"
