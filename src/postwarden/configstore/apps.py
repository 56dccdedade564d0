from django.apps import AppConfig


class ConfigstoreConfig(AppConfig):
    name = "postwarden.configstore"
    label = "configstore"

    def ready(self) -> None:
        from postwarden.configstore.runtime import save_rotated_refresh_token
        from postwarden.core.oauth import rotation

        # a refresh token the identity platform rotates outlives a restart (core/oauth/rotation.py)
        rotation.set_sink(save_rotated_refresh_token)
