"""Who may use Postwarden: console users with roles, API keys, and the application's
members (people with accounts in the app, exempt from approved domains as in Metabase),
with the preferences about them that the console sets and the API follows."""

from __future__ import annotations

import hashlib
import secrets
from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    #: everything, users and API keys included
    ADMIN = "admin", _("Admin")
    #: email settings and tests (Metabase's "settings access"), deliveries, doctor
    SETTINGS = "settings", _("Settings")
    #: read only: metadata, timelines and replies; message bodies only with ``read_bodies``
    VIEWER = "viewer", _("Viewer")


class Calendar(models.TextChoices):
    """How the console writes dates: Gregorian everywhere, Solar Hijri as an option in Persian."""

    GREGORIAN = "gregorian", _("Gregorian")
    PERSIAN = "persian", _("Solar Hijri (Persian)")


_RANK = {Role.VIEWER: 0, Role.SETTINGS: 1, Role.ADMIN: 2}


class User(AbstractUser):
    """A console user. The username is the email address."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    #: a viewer granted the bodies (text, HTML, raw source, attachments) of the mail the
    #: console shows; the settings and admin roles read them anyway
    read_bodies = models.BooleanField(default=False)
    #: the console's language for this user; "" = the instance default (POSTWARDEN_LANGUAGE),
    #: else the browser's (console/language.py)
    language = models.CharField(max_length=16, blank=True, default="")
    #: "" = the instance default (POSTWARDEN_CALENDAR)
    calendar = models.CharField(max_length=16, choices=Calendar.choices, blank=True, default="")

    def has_role(self, role: Role) -> bool:
        return self.is_active and _RANK[Role(self.role)] >= _RANK[role]

    @property
    def may_read_bodies(self) -> bool:
        """Mail bodies hold password-reset links and whatever the application says to
        people: a permission of their own, not part of "read the console"."""
        return self.has_role(Role.SETTINGS) or (self.is_active and self.read_bodies)


class Scope(models.TextChoices):
    SEND = "send", _("send")
    READ = "read", _("read")
    ADMIN = "admin", _("admin")


KEY_PREFIX = "pw_"


def hash_key(key: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (a password hash
    # would cost milliseconds on every API call and every relay AUTH).
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(models.Model):
    """An API key, hashed at rest and shown once. The relay takes it as an SMTP password."""

    name = models.CharField(max_length=100)
    #: the first characters after ``pw_``, shown in lists and used to find the row
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[models.Manager[ApiKey]]

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.prefix}…)"

    @classmethod
    def issue(cls, name: str, scopes: list[str], created_by: User | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns the row and the plain key, which is never stored."""
        prefix = secrets.token_hex(4)
        plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        row = cls.objects.create(
            name=name,
            prefix=prefix,
            key_hash=hash_key(plain),
            scopes=sorted(set(scopes)),
            created_by=created_by,
        )
        return row, plain

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return self.active and (scope in self.scopes or Scope.ADMIN in self.scopes)


class MemberGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)

    objects: ClassVar[models.Manager[MemberGroup]]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A person with an account in the application. Members are exempt from the approved
    recipient domains (MAIL_ALLOWED_DOMAINS), as Metabase exempts its users."""

    email = models.CharField(max_length=320, unique=True)
    name = models.CharField(max_length=200, blank=True)
    groups = models.ManyToManyField(MemberGroup, blank=True, related_name="members")
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[Member]]

    class Meta:
        ordering = ("email",)

    def __str__(self) -> str:
        return self.email


class Preference(models.Model):
    """A preference about the members that is not a mail setting of docs/spec/config.md (those
    live in configstore and follow the environment's precedence): the recipient-suggestion
    mode (accounts/suggestions.py), set in the console, followed by the API."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.CharField(max_length=200)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[Preference]]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
