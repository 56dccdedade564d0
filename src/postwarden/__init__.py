"""Postwarden: the email part of an application, run as its own service."""

__version__ = "0.1.0"
