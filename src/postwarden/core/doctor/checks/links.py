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
from postwarden.core.i18n import Text, join, ntext
from postwarden.core.links import is_local_host, judge, urls_in
from postwarden.core.templating import TemplateError, TemplateSource, render

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
                Text("APP_URL is not set"),
                (
                    Text(
                        "Set APP_URL to the public base URL of the application whose links the mails carry, "
                        "e.g. https://app.example.com."
                    ),
                ),
            )
        )
        rec.check("links.app_url", Status.WARN, Text("APP_URL is not set"))
        app_host = None
    else:
        app_host = _check_app_url(rec, app_url)
    sources = list(_template_sources(ctx.options.template_dirs))
    stored = _stored(ctx, ctx.service.templates if ctx.service is not None else ())
    if stored.broken:
        rec.finding(_broken_finding(stored.broken))
    _check_sources(rec, "links.templates", sources, app_host, strict=True, stored=stored)
    if ctx.service is None:
        rec.check("links.messages", Status.SKIP, Text("recent messages need the service's database"))
    else:
        _check_sources(rec, "links.messages", ctx.service.recent_messages, app_host, strict=False)


def _check_app_url(rec: Recorder, app_url: str) -> str | None:
    parts = urlsplit(app_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        rec.finding(
            Finding.of(
                Code.LINKS_HOST_MISMATCH,
                Text("APP_URL={app_url} is not an http(s) URL with a host", app_url=app_url),
                (Text("Set APP_URL to the public base URL, e.g. https://app.example.com."),),
            )
        )
        rec.check("links.app_url", Status.FAIL, Text("APP_URL={app_url} is not a URL", app_url=app_url))
        return None
    status, problems = Status.PASS, list[str]()
    if is_local_host(host):
        rec.finding(
            Finding.of(
                Code.LINKS_HOST_MISMATCH,
                Text(
                    "APP_URL={app_url} names {host}, which recipients cannot reach",
                    app_url=app_url,
                    host=host,
                ),
                (
                    Text(
                        "Set APP_URL to the address people use to reach the application (behind a proxy: "
                        "its public name), not localhost or a private address."
                    ),
                ),
            )
        )
        status = Status.FAIL
        problems.append(Text("{host} is not reachable by recipients", host=host))
    if parts.scheme == "http":
        rec.finding(
            Finding.of(
                Code.LINKS_INSECURE,
                Text("APP_URL={app_url} uses http://", app_url=app_url),
                (Text("Serve the application over HTTPS and set APP_URL to its https:// address."),),
            )
        )
        status = Status.WARN if status is Status.PASS else status
        problems.append(Text("uses http://"))
    said = f"APP_URL={app_url}"
    if problems:
        said = Text("APP_URL={app_url} ({problems})", app_url=app_url, problems=join("; ", problems))
    rec.check("links.app_url", status, said)
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
        return self.said

    @property
    def said(self) -> Text:
        return Text(
            "template {name} version {version}, {error}",
            name=self.name,
            version=self.version,
            error=str(self.error),
        )


def _broken_finding(broken: Sequence[_Broken]) -> Finding:
    """One finding for every template that does not render (a code is reported once):
    each named in the evidence, with the steps that fix it."""
    shown = broken[:5]
    steps = [step for each in shown for step in _broken_steps(each)]
    return Finding.of(Code.LINKS_TEMPLATE_BROKEN, join("; ", [b.said for b in shown]), steps)


def _broken_steps(broken: _Broken) -> tuple[str, ...]:
    name, error = broken.name, broken.error
    where = (
        Text("the {part} part at line {line}", part=error.part, line=error.line)
        if error.line
        else Text("the {part} part", part=error.part)
    )
    if not error.variables:
        return (
            Text(
                "Fix {where} of template {name} in the console at /templates/{name}/ (or PUT "
                "/api/v1/templates/{name}); until then every message naming it is refused.",
                where=where,
                name=name,
            ),
        )
    missing = ", ".join(error.variables)
    return (
        Text(
            "Fix {where} of template {name} in the console at /templates/{name}/ (or PUT "
            "/api/v1/templates/{name}), if it should not need {missing}.",
            where=where,
            name=name,
            missing=missing,
        ),
        Text(
            "Otherwise give {missing} in the sample variables of {name} (the doctor, the preview and Send "
            "test "
            "use them); a message naming it without {missing} is refused with a 400 naming it.",
            missing=missing,
            name=name,
        ),
    )


@dataclass(frozen=True, slots=True)
class _JudgedTemplates:
    """The stored templates' verdicts: links questioned and templates that do not render."""

    count: int = 0
    wrong: tuple[str, ...] = ()
    insecure: tuple[str, ...] = ()
    broken: tuple[_Broken, ...] = ()


def _stored(ctx: Context, templates: Sequence[StoredTemplate]) -> _JudgedTemplates:
    sending = ctx.settings.sending
    wrong: list[str] = []
    insecure: list[str] = []
    broken: list[_Broken] = []
    for template in templates:
        name, version = template.name, template.version
        source = TemplateSource(template.subject, template.text, template.html)
        try:
            done = render(source, template.sample_variables)
        except TemplateError as exc:
            broken.append(_Broken(template.name, template.version, exc))
            continue
        for problem in judge([t for t in (done.text, done.html) if t], sending.app_url, sending.link_hosts):
            line = Text(
                "template {name} version {version}: {url} ({problem})",
                name=name,
                version=version,
                url=problem.url,
                problem=problem.problem,
            )
            (insecure if problem.kind == "insecure" else wrong).append(line)
    return _JudgedTemplates(len(templates), tuple(wrong), tuple(insecure), tuple(broken))


def _check_sources(
    rec: Recorder,
    check_id: str,
    sources: Iterable[tuple[str, str]],
    app_host: str | None,
    *,
    strict: bool,
    stored: _JudgedTemplates | None = None,
) -> None:
    """``strict`` (our own templates): every absolute link must be on APP_URL's host.
    Otherwise (messages the application wrote) only links that cannot work are flagged:
    local hosts, and http:// links to APP_URL's own host. ``stored``: the stored
    templates' verdicts, reported with the files'."""
    items = list(sources)
    stored = stored or _JudgedTemplates()
    if not items and not stored.count:
        rec.check(check_id, Status.SKIP, Text("nothing to check"))
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
                join("; ", wrong[:5]),
                (
                    Text(
                        "Build links from APP_URL ({value}) instead of the request's host or a fixed "
                        "address.",
                        value=app_host or Text("not set"),
                    ),
                    Text(
                        "Behind a reverse proxy, set APP_URL to the public name so that links do not point "
                        "at localhost."
                    ),
                ),
            )
        )
    if insecure:
        rec.finding(
            Finding.of(
                Code.LINKS_INSECURE,
                join("; ", insecure[:5]),
                (Text("Use https:// links (set APP_URL to the https:// address)."),),
            )
        )
    status = Status.FAIL if wrong or stored.broken else Status.WARN if insecure else Status.PASS
    total = len(items) + stored.count
    counted = (
        ntext("{n} template checked", "{n} templates checked", total)
        if strict
        else ntext("{n} message checked", "{n} messages checked", total)
    )
    # a template that does not render is named first: with it, no mail of that kind leaves
    named = [*(b.said for b in stored.broken), *wrong, *insecure]
    shown = len(stored.broken) + 3
    rec.check(
        check_id,
        status,
        counted if status is Status.PASS else join(": ", [counted, join("; ", named[:shown])]),
    )
