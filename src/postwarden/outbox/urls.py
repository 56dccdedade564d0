"""Monitoring endpoints: ``/metrics`` (Prometheus) and ``/healthz``."""

from __future__ import annotations

from django.urls import URLPattern, path

from postwarden.outbox import metrics_healthz

urlpatterns: list[URLPattern] = [
    path("metrics", metrics_healthz.metrics, name="metrics"),
    path("healthz", metrics_healthz.healthz, name="healthz"),
]
