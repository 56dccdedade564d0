from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "postwarden.accounts"
    label = "accounts"
