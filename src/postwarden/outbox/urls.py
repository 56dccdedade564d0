"""Monitoring endpoints: ``/metrics`` (Prometheus) and ``/healthz``."""

from __future__ import annotations

from django.urls import URLPattern, path

from postwarden.outbox import ops

urlpatterns: list[URLPattern] = [
    path("metrics", ops.metrics, name="metrics"),
    path("healthz", ops.healthz, name="healthz"),
]
