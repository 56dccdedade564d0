"""Django's cookie-only middleware, stepped over for the key-authenticated API.

``/api/…`` authenticates each request with a bearer key (api/auth.py) and never reads a
session, a logged-in user, a flash message or a CSRF cookie (ninja marks its views
``csrf_exempt``; a header-borne key cannot be forged cross-site). The stock classes still
did their work on every API request: the messages storage builds a cookie signer, CSRF
reads and re-checks the cookie, the session and user get their lazy wrappers — about a
third of what Django's stack costs a request that ninja answers (issue #7). Each class
here is the stock one for every other path; for the API it only passes the request on.

Only ``__call__`` (process_request/process_response) is skipped. The handler still runs
``process_view`` hooks: CSRF's returns at once for an exempt view, and
:class:`LoginRequiredMiddleware` looks at the view's ``login_not_required`` mark (all of
the API's, api/urls.py) before ``request.user``, which API requests no longer carry: a
view without the mark under /api/ would fail closed (500), not open. Security headers come
from middleware outside this set and stay on every answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware import csrf

#: the API's URL prefix (postwarden/urls.py mounts api.urls here)
API_PREFIX: Final = "/api/"


def is_api(request: HttpRequest) -> bool:
    """The request is for the key-authenticated API (matched as the URL map matches)."""
    return request.path_info.startswith(API_PREFIX)


class SessionMiddleware(sessions_middleware.SessionMiddleware):
    """The stock session middleware, except for the API."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if is_api(request):
            return self.get_response(request)
        return super().__call__(request)


class CsrfViewMiddleware(csrf.CsrfViewMiddleware):
    """The stock CSRF middleware, except for the API (its views are exempt anyway)."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if is_api(request):
            return self.get_response(request)
        return super().__call__(request)


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """The stock ``request.user`` middleware, except for the API."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if is_api(request):
            return self.get_response(request)
        return super().__call__(request)


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """The stock flash-message middleware, except for the API."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if is_api(request):
            return self.get_response(request)
        return super().__call__(request)


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """The stock one, reading the view's ``login_not_required`` mark first.

    Django 5.2 asks ``request.user.is_authenticated`` first, which loads the session
    even for views that need no login; for those the answer is None either way."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
