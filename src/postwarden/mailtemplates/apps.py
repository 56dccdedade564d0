from django.apps import AppConfig


class MailTemplatesConfig(AppConfig):
    name = "postwarden.mailtemplates"
    label = "mailtemplates"
