"""The console's own 404 and 403 pages (Django's handler404/handler403 and the CSRF
failure view): the console's frame with a way back, never the exception's words. Paths
under /api/ keep the API's JSON error body (``{"detail": …}``, api/errors.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from postwarden.console.access import forbidden

API_PREFIX = "/api/"


def _api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _api(request):
        return JsonResponse({"detail": "Not Found"}, status=404)
    return render(request, "console/not_found.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _api(request):
        return JsonResponse({"detail": "Forbidden"}, status=403)
    return forbidden(request, None)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without its token (a page open across a log-in, a stale tab)."""
    if _api(request):
        return JsonResponse({"detail": "Forbidden"}, status=403)
    return render(request, "console/forbidden.html", {"csrf": True}, status=403)
