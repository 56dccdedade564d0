"""Rendering stored mail templates: a subject, a text part and an HTML part, each a Jinja2
template, filled with the caller's variables.

Strict and sandboxed, because a half-rendered mail is worse than none and a template
author is not trusted with the process:

- Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute starting
  with ``_``, no unsafe callables, no mutation of the variables given;
- :class:`~jinja2.StrictUndefined`: a missing variable, or a missing key or attribute of
  one, is an error, never an empty string;
- unknown filters and tests and syntax errors are errors when the template is compiled;
- the HTML part is auto-escaped (``{{ name }}`` with ``<b>`` in it shows ``&lt;b&gt;``);
  the subject and text are not (they are not HTML).

Every error is a :class:`TemplateError` naming the part (subject, text or html), the
line and, for a missing variable, the variable. When a template has no text part, one
is made from the rendered HTML (inscriptis, which keeps links as ``[label](url)``).
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jinja2
import jinja2.meta
import jinja2.nodes
from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from jinja2.sandbox import ImmutableSandboxedEnvironment

from postwarden.core.i18n import Number, Text, ntext

#: the parts, in the order they are rendered and reported
PARTS: Final = ("subject", "text", "html")
#: each part as a person reads it (the part's own name is the English word)
PART_WORDS: Final = {"subject": Text("subject"), "text": Text("text"), "html": Text("html")}
#: the file name Jinja2 gives a template made from a string: its frames in a traceback
_SOURCE_NAME: Final = "<template>"


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered with the variables given.

    ``str()`` is English (the API's answer); the one argument is a
    :class:`~postwarden.core.i18n.Text`, so a page or the command line says where it is in
    the reader's language. ``problem`` is Jinja2's own message when it found the fault: quoted
    as it came, never translated."""

    def __init__(self, part: str, line: int | None, problem: str, variables: tuple[str, ...] = ()) -> None:
        name = PART_WORDS.get(part, part)
        where = Text("{part} line {line}", part=name, line=Number(line)) if line else name
        super().__init__(Text("{where}: {problem}", where=where, problem=problem))
        self.part = part
        self.line = line
        self.problem = problem
        #: the missing variables, when that is the problem
        self.variables = variables


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """A template as stored: at least one of ``text`` and ``html``."""

    subject: str
    text: str | None = None
    html: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str | None
    html: str | None


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=autoescape, keep_trailing_newline=True
    )


_PLAIN: Final = _environment(False)
_HTML: Final = _environment(True)
_TEXT_CONFIG: Final = ParserConfig(display_links=True)


def check(source: TemplateSource) -> None:
    """Compile every part. Raises :class:`TemplateError` for a syntax error or an unknown
    filter or test, or when neither text nor HTML is given."""
    if source.text is None and source.html is None:
        raise TemplateError("text", None, Text("a template needs a text part, an HTML part or both"))
    for part, value in _parts(source):
        _compiled(part, value)


def variables_of(source: TemplateSource) -> dict[str, tuple[str, int]]:
    """The variables the template reads that it does not set itself: ``name -> (part,
    line)`` of their first use. Raises :class:`TemplateError` as :func:`check` does."""
    found: dict[str, tuple[str, int]] = {}
    for part, value in _parts(source):
        tree = _parsed(part, value)
        wanted = jinja2.meta.find_undeclared_variables(tree)
        for node in tree.find_all(jinja2.nodes.Name):
            if node.name in wanted and node.ctx == "load" and node.name not in found:
                found[node.name] = (part, node.lineno)
    return found


def render(source: TemplateSource, variables: Mapping[str, Any]) -> Rendered:
    """Every part rendered with ``variables``. Raises :class:`TemplateError`: all missing
    variables are named at once, with the part and line of the first one's first use."""
    check(source)
    missing = {
        name: place
        for name, place in variables_of(source).items()
        if name not in variables and name not in _PLAIN.globals
    }
    if missing:
        part, line = next(iter(missing.values()))
        names = ", ".join(repr(n) for n in missing)
        problem = ntext(
            "variable {names} is missing", "variables {names} are missing", len(missing), names=names
        )
        raise TemplateError(part, line, problem, tuple(missing))
    out = {part: _render(part, value, variables) for part, value in _parts(source)}
    html = out.get("html")
    text = out.get("text")
    if text is None and html is not None:
        text = html_to_text(html)
    return Rendered(out["subject"], text, html)


def html_to_text(html: str) -> str:
    """A readable plain-text version of ``html``, its links kept as ``[label](url)``."""
    text: str = get_text(html, _TEXT_CONFIG)
    return text.strip() + "\n"


def _parts(source: TemplateSource) -> list[tuple[str, str]]:
    values = {"subject": source.subject, "text": source.text, "html": source.html}
    return [(part, value) for part in PARTS if (value := values[part]) is not None]


def _parsed(part: str, value: str) -> jinja2.nodes.Template:
    try:
        return _environment_for(part).parse(value)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(part, exc.lineno, exc.message or Text("syntax error")) from None


@functools.lru_cache(maxsize=256)
def _compiled_cached(part: str, value: str) -> jinja2.Template:
    return _environment_for(part).from_string(value)


def _compiled(part: str, value: str) -> jinja2.Template:
    """The compiled part; cached, as a batch renders one template hundreds of times."""
    try:
        return _compiled_cached(part, value)
    except jinja2.TemplateSyntaxError as exc:
        # an unknown filter or test is a TemplateAssertionError, a kind of syntax error
        raise TemplateError(part, exc.lineno, exc.message or Text("syntax error")) from None


def _environment_for(part: str) -> ImmutableSandboxedEnvironment:
    return _HTML if part == "html" else _PLAIN


def _render(part: str, value: str, variables: Mapping[str, Any]) -> str:
    template = _compiled(part, value)
    try:
        return template.render(dict(variables))
    except jinja2.UndefinedError as exc:
        raise TemplateError(part, _line_of(exc), str(exc.message or exc)) from None
    except jinja2.TemplateError as exc:  # SecurityError and the like
        raise TemplateError(part, _line_of(exc), str(exc.message or exc)) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # a filter given the wrong kind of value ({{ 5 | join }}, {{ x / 0 }})
        raise TemplateError(part, _line_of(exc), f"{type(exc).__name__}: {exc}") from None


def _line_of(exc: BaseException) -> int | None:
    """The template line where ``exc`` happened: Jinja2 rewrites its tracebacks so that a
    template's frames carry the template's own line numbers."""
    lines = [
        frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == _SOURCE_NAME
    ]
    return lines[-1] if lines else None
