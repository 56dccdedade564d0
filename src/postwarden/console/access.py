"""Who may do what in the console: ONE table, URL name -> the role needed to read
(GET/HEAD) and to change (any other method).

Every console route is wrapped by :func:`guarded` from this table when the URL map is
built, so a view without an entry cannot be mounted, and the authorization tests iterate
:data:`ACCESS` instead of a list someone must remember to extend (issue #8 builds its
matrix on it). Roles rank viewer < settings < admin (``User.has_role``); a route that
shows a mail's body also needs the body permission (``User.may_read_bodies``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Final

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from postwarden.accounts.models import Role

View = Callable[..., HttpResponseBase]
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class AccessRule:
    #: role needed for GET/HEAD; None = anyone, logged in or not (the login page only)
    read: Role | None
    #: role needed for POST and other writes; None = the view accepts no writes
    write: Role | None = None
    #: anyone may use it, writes included (the login form)
    public: bool = False
    #: it shows a mail's body (text, HTML, raw source, a file): reading also needs the
    #: body permission (``User.may_read_bodies``), whatever the role
    bodies: bool = False


PUBLIC: Final = AccessRule(read=None, write=None, public=True)
V, S, A = Role.VIEWER, Role.SETTINGS, Role.ADMIN
#: a mail's body, read by whoever may read bodies (settings, admin, a viewer granted them)
BODY: Final = AccessRule(V, bodies=True)

#: URL name (without the "console:" namespace) -> rule
ACCESS: Final[dict[str, AccessRule]] = {
    "login": PUBLIC,
    "logout": AccessRule(V, V),
    "overview": AccessRule(V),
    # one's own preferences (language, calendar): every signed-in user, for themselves only
    "account": AccessRule(V, V),
    # email settings and their tests: Metabase's "settings access"
    "settings": AccessRule(S, S),
    "settings_test_connection": AccessRule(S, S),
    "settings_send_test": AccessRule(S, S),
    "settings_dkim_generate": AccessRule(S, S),
    "settings_dkim_check": AccessRule(S, S),
    "settings_oauth2_connect": AccessRule(S, S),
    "settings_oauth2_callback": AccessRule(S),
    # deliveries: everyone reads metadata and timelines, "settings" acts; the message page
    # shows its body only to those who may read bodies
    "deliveries": AccessRule(V),
    "message": AccessRule(V),
    "message_html": BODY,
    "message_raw": BODY,
    # an attachment is part of the body: whoever reads bodies downloads files
    "message_attachment": BODY,
    # templates: everyone reads and previews (a preview changes nothing), "settings" saves
    # and sends tests
    "templates": AccessRule(V, S),
    "template_preview": AccessRule(V, V),
    "template": AccessRule(V, S),
    "template_diff": AccessRule(V),
    "template_send_test": AccessRule(V, S),
    "template_delete": AccessRule(V, S),
    "held": AccessRule(V, S),
    "held_action": AccessRule(V, S),
    "suppressions": AccessRule(V, S),
    "suppressions_csv": AccessRule(V),
    "suppression_remove": AccessRule(V, S),
    # the doctor connects out and may probe the mail server: not for viewers
    # bounces that came back to the return paths: metadata and the remote words, no mail body
    "bounces": AccessRule(V),
    "doctor": AccessRule(V, S),
    "doctor_run": AccessRule(V, S),
    "captured": AccessRule(V),
    "captured_message": AccessRule(V),
    "captured_html": BODY,
    "captured_raw": BODY,
    "captured_attachment": BODY,
    "people": AccessRule(V, S),
    "member": AccessRule(V, S),
    "group": AccessRule(V, S),
    "logs": AccessRule(V),
    # canaries: everyone reads what they found; "settings" adds, changes (an IMAP password,
    # like the SMTP one), runs and deletes them
    # alerts: everyone reads what fired and where it went (destinations without their
    # tokens); "settings" adds and removes destinations and sends a test
    "alerts": AccessRule(V, S),
    "alert_destination_remove": AccessRule(V, S),
    "alert_test": AccessRule(V, S),
    "canaries": AccessRule(V, S),
    "canary": AccessRule(V, S),
    "canary_run": AccessRule(V, S),
    "canary_delete": AccessRule(V, S),
    # admin only, even to look: key names and user lists are an attacker's map
    "apikeys": AccessRule(A, A),
    "apikey_revoke": AccessRule(A, A),
    "users": AccessRule(A, A),
    "user": AccessRule(A, A),
}


def reads_bodies(user: object) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "may_read_bodies", False))


def allowed(user: object, role: Role | None) -> bool:
    if role is None:
        return True
    has_role = getattr(user, "has_role", None)
    return bool(getattr(user, "is_authenticated", False) and has_role is not None and has_role(role))


def needed_role(rule: AccessRule, method: str) -> Role | bool | None:
    """The role ``method`` needs under ``rule``; False when the method is not allowed."""
    if rule.public:
        return None
    if method in SAFE_METHODS or method == "OPTIONS":
        return rule.read
    if rule.write is None:
        return False
    return rule.write


def guarded(name: str, view: View) -> View:
    """``view`` behind the rule for ``name``. Raises KeyError when there is none."""
    rule = ACCESS[name]

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        role = needed_role(rule, request.method or "GET")
        if role is False:
            return HttpResponse("Method not allowed", status=405, content_type="text/plain")
        if not allowed(request.user, role if isinstance(role, Role) else None):
            return forbidden(request, role if isinstance(role, Role) else None)
        if rule.bodies and not reads_bodies(request.user):
            return forbidden(request, None, bodies=True)
        return view(request, *args, **kwargs)

    if rule.read is None:
        return login_not_required(wrapper)
    return wrapper


def forbidden(request: HttpRequest, role: Role | None, *, bodies: bool = False) -> HttpResponse:
    label = Role(role).label if role else ""
    return render(request, "console/forbidden.html", {"needed": label, "bodies": bodies}, status=403)
