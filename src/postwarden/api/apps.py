from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "postwarden.api"
    label = "api"
