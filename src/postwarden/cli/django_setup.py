"""Set up Django for the commands that need the database, with a readable error for
settings that cannot be used (instead of a traceback from inside Django)."""

from __future__ import annotations

import os


def setup(process: str = "cli") -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postwarden.settings")
    os.environ.setdefault("POSTWARDEN_PROCESS", process)
    import django

    django.setup()
