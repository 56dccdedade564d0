"""Settings saved in the console: the weakest layer of docs/spec/config.md, under flags,
environment and .env. Secret values are sealed (encrypted) at rest."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class StoredSetting(models.Model):
    #: the canonical variable name of docs/spec/config.md (``SMTP_HOST`` …)
    name = models.CharField(max_length=64, primary_key=True)
    #: plain text, or a sealed token (``pw1:…``) when ``sealed``
    value = models.TextField()
    sealed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    objects: ClassVar[models.Manager[StoredSetting]]

    def __str__(self) -> str:
        return self.name
