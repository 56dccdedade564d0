from django.apps import AppConfig


class BouncesConfig(AppConfig):
    name = "postwarden.bounces"
    label = "bounces"
    verbose_name = "Bounces"
