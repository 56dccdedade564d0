from django.apps import AppConfig


class BouncesConfig(AppConfig):
    name = "postwarden.bounces"
    label = "bounces"
    verbose_name = "Bounces"

    def ready(self) -> None:
        from postwarden.bounces.metrics import BounceCollector
        from postwarden.outbox.metrics_healthz import add_collector

        add_collector(BounceCollector)
