from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "postwarden.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from anymail.signals import tracking

        from postwarden.webhooks.events import on_tracking

        # one receiver for every provider's normalized events (anymail/signals.py)
        tracking.connect(on_tracking, dispatch_uid="postwarden.webhooks.events")
