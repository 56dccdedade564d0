from django.apps import AppConfig


class CanariesConfig(AppConfig):
    name = "postwarden.canaries"
    label = "canaries"

    def ready(self) -> None:
        from postwarden.canaries.metrics import CanaryCollector
        from postwarden.outbox.metrics_healthz import add_collector

        add_collector(CanaryCollector)
