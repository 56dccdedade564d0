"""The links stage: do the links in the mails lead where people can follow them?

``APP_URL`` must be set, use https and name a public host; the links in Postwarden's
own templates and (with the database) in recent messages must point at that host, not
at ``localhost`` or a private address (Metabase sent reset links to
``http://172.31.39.136/…`` and to ``localhost`` behind a proxy: docs/reference/mission-anchors.md L1, L2).

The stored templates (``/api/v1/templates``) are rendered with their sample variables:
one that does not render fails ``links.templates`` and is a ``links.template_broken``
finding with its name, version, part, line and the renderer's words; the links of the
others are judged as the outbox judges API mail (core/links.py, with
``LINKS_ALLOWED_HOSTS``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.service import StoredTemplate
from postwarden.core.links import is_local_host, judge, urls_in
from postwarden.core.templating import Source, TemplateError, render

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

#: files that can hold mail templates
_TEMPLATE_SUFFIXES: Final = (".html", ".txt", ".htm")


async def run_links(ctx: Context, rec: Recorder) -> None:
    app_url = ctx.settings.sending.app_url
    if not app_url:
        rec.finding(
            Finding.of(
                Code.LINKS_APP_URL_MISSING,
                "APP_URL is not set",
                (
                    "Set APP_URL to the public base URL of the application whose links the mails carry, e.g. "
                    "https://app.example.com.",
                ),
            )
        )
        rec.check("links.app_url", Status.WARN, "APP_URL is not set")
        app_host = None
    else:
        app_host = _check_app_url(rec, app_url)
    sources = list(_template_sources(ctx.options.template_dirs))
    stored = _stored(ctx, ctx.service.templates if ctx.service is not None else ())
    if stored.broken:
        rec.finding(_broken_finding(stored.broken))
    _check_sources(rec, "links.templates", sources, app_host, strict=True, stored=stored)
    if ctx.service is None:
        rec.check("links.messages", Status.SKIP, "recent messages need the service's database")
    else:
        _check_sources(rec, "links.messages", ctx.service.recent_messages, app_host, strict=False)


def _check_app_url(rec: Recorder, app_url: str) -> str | None:
    parts = urlsplit(app_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        rec.finding(
            Finding.of(
                Code.LINKS_HOST_MISMATCH,
                f"APP_URL={app_url} is not an http(s) URL with a host",
                ("Set APP_URL to the public base URL, e.g. https://app.example.com.",),
            )
        )
        rec.check("links.app_url", Status.FAIL, f"APP_URL={app_url} is not a URL")
        return None
    status, problems = Status.PASS, []
    if is_local_host(host):
        rec.finding(
            Finding.of(
                Code.LINKS_HOST_MISMATCH,
                f"APP_URL={app_url} names {host}, which recipients cannot reach",
                (
                    "Set APP_URL to the address people use to reach the application (behind a "
                    "proxy: its public name), "
                    "not localhost or a private address.",
                ),
            )
        )
        status = Status.FAIL
        problems.append(f"{host} is not reachable by recipients")
    if parts.scheme == "http":
        rec.finding(
            Finding.of(
                Code.LINKS_INSECURE,
                f"APP_URL={app_url} uses http://",
                ("Serve the application over HTTPS and set APP_URL to its https:// address.",),
            )
        )
        status = Status.WARN if status is Status.PASS else status
        problems.append("uses http://")
    rec.check(
        "links.app_url", status, f"APP_URL={app_url}" + (f" ({'; '.join(problems)})" if problems else "")
    )
    return host


def _template_sources(dirs: Sequence[Path]) -> Iterator[tuple[str, str]]:
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*")):
            if path.suffix in _TEMPLATE_SUFFIXES and path.is_file():
                yield str(path.relative_to(directory)), path.read_text(encoding="utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class _Broken:
    """A stored template version that does not render with its sample variables."""

    name: str
    version: int
    error: TemplateError

    def __str__(self) -> str:
        return f"template {self.name} version {self.version}, {self.error}"


def _broken_finding(broken: Sequence[_Broken]) -> Finding:
    """One finding for every template that does not render (a code is reported once):
    each named in the evidence, with the steps that fix it."""
    shown = broken[:5]
    steps = [step for each in shown for step in _broken_steps(each)]
    return Finding.of(Code.LINKS_TEMPLATE_BROKEN, "; ".join(map(str, shown)), steps)


def _broken_steps(broken: _Broken) -> tuple[str, ...]:
    name, error = broken.name, broken.error
    where = f"the {error.part} part" + (f" at line {error.line}" if error.line else "")
    fix = (
        f"Fix {where} of template {name} in the console at /templates/{name}/ "
        f"(or PUT /api/v1/templates/{name})"
    )
    if not error.variables:
        return (f"{fix}; until then every message naming it is refused.",)
    missing = ", ".join(error.variables)
    return (
        f"{fix}, if it should not need {missing}.",
        f"Otherwise give {missing} in the sample variables of {name} (the doctor, the preview and "
        f"Send test use them); a message naming it without {missing} is refused with a 400 naming it.",
    )


@dataclass(frozen=True, slots=True)
class _Judged:
    """The stored templates' verdicts: links questioned and templates that do not render."""

    count: int = 0
    wrong: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()
    broken: tuple[_Broken, ...] = ()


def _stored(ctx: Context, templates: Sequence[StoredTemplate]) -> _Judged:
    sending = ctx.settings.sending
    wrong: list[str] = []
    insecure: list[str] = []
    broken: list[_Broken] = []
    for template in templates:
        label = f"template {template.name} version {template.version}"
        source = Source(template.subject, template.text, template.html)
        try:
            done = render(source, template.sample_variables)
        except TemplateError as exc:
            broken.append(_Broken(template.name, template.version, exc))
            continue
        for problem in judge([t for t in (done.text, done.html) if t], sending.app_url, sending.link_hosts):
            line = f"{label}: {problem.url} ({problem.problem})"
            (insecure if problem.kind == "insecure" else wrong).append(line)
    return _Judged(len(templates), tuple(wrong), tuple(insecure), tuple(broken))


def _check_sources(
    rec: Recorder,
    check_id: str,
    sources: Iterable[tuple[str, str]],
    app_host: str | None,
    *,
    strict: bool,
    stored: _Judged | None = None,
) -> None:
    """``strict`` (our own templates): every absolute link must be on APP_URL's host.
    Otherwise (messages the application wrote) only links that cannot work are flagged:
    local hosts, and http:// links to APP_URL's own host. ``stored``: the stored
    templates' verdicts, reported with the files'."""
    items = list(sources)
    stored = stored or _Judged()
    if not items and not stored.count:
        rec.check(check_id, Status.SKIP, "nothing to check")
        return
    wrong: list[str] = list(stored.wrong)
    insecure: list[str] = list(stored.insecure)
    for name, text in items:
        for url in urls_in(text):
            host = (urlsplit(url).hostname or "").lower()
            if is_local_host(host) or (strict and app_host and host != app_host):
                wrong.append(f"{name}: {url}")
            elif url.lower().startswith("http://") and (strict or host == app_host):
                insecure.append(f"{name}: {url}")
    # a link in both the text and the HTML part of one message is one problem
    wrong, insecure = list(dict.fromkeys(wrong)), list(dict.fromkeys(insecure))
    if wrong:
        rec.finding(
            Finding.of(
                Code.LINKS_HOST_MISMATCH,
                "; ".join(wrong[:5]),
                (
                    f"Build links from APP_URL ({app_host or 'not set'}) instead of the request's "
                    "host or a fixed "
                    "address.",
                    "Behind a reverse proxy, set APP_URL to the public name so that links do not "
                    "point at localhost.",
                ),
            )
        )
    if insecure:
        rec.finding(
            Finding.of(
                Code.LINKS_INSECURE,
                "; ".join(insecure[:5]),
                ("Use https:// links (set APP_URL to the https:// address).",),
            )
        )
    status = Status.FAIL if wrong or stored.broken else Status.WARN if insecure else Status.PASS
    counted = f"{len(items) + stored.count} {'template' if strict else 'message'}(s) checked"
    # a template that does not render is named first: with it, no mail of that kind leaves
    named = [*map(str, stored.broken), *wrong, *insecure]
    shown = len(stored.broken) + 3
    rec.check(
        check_id, status, counted if status is Status.PASS else f"{counted}: {'; '.join(named[:shown])}"
    )
