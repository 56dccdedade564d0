"""Webhook state that must outlive a request and be shared by every web process."""

from __future__ import annotations

from django.db import models


class SeenToken(models.Model):
    """A signature token a provider already used (webhooks/replay.py). Unique per provider,
    so two processes (or nodes on PostgreSQL) accepting the same token at once cannot both
    win; kept until its signed timestamp is too old to be accepted anyway."""

    provider = models.CharField(max_length=16)
    token = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = (models.UniqueConstraint(fields=("provider", "token"), name="webhook_token_once"),)

    def __str__(self) -> str:
        return f"{self.provider} token until {self.expires_at:%Y-%m-%d %H:%M:%S}"
