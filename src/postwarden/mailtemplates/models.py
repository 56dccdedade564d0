"""Stored mail templates. A template is a name; each change is a new :class:`Version`
(subject, text, HTML and the sample variables that previews and the doctor render it
with), so that a sent message can say exactly which version it was rendered from."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone


class Template(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[Template]]

    def __str__(self) -> str:
        return self.name


class Version(models.Model):
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    #: 1, 2, 3 … per template
    number = models.PositiveIntegerField()
    subject = models.CharField(max_length=998)
    text = models.TextField(null=True, blank=True)
    html = models.TextField(null=True, blank=True)
    #: what previews, "Send test" and the doctor render this version with
    sample_variables = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    #: "api key billing-app", "console user ann" …
    created_by = models.CharField(max_length=200, blank=True)

    objects: ClassVar[models.Manager[Version]]

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("template", "number"), name="template_version_unique"),
        )

    def __str__(self) -> str:
        return f"{self.template_id} v{self.number}"
