from django.apps import AppConfig


class ConfigstoreConfig(AppConfig):
    name = "postwarden.configstore"
    label = "configstore"
