from django.apps import AppConfig


class DoctorConfig(AppConfig):
    # "doctor" alone would be ambiguous next to postwarden.core.doctor in logs and admin
    name = "postwarden.doctor"
    label = "doctor"

    def ready(self) -> None:
        from postwarden.doctor import checks  # noqa: F401 - registers the system checks
