"""One pure function turns layers of raw strings into :class:`Settings`.

Precedence (docs/spec/config.md), strongest first: command-line flags, the environment, the
``.env`` file, values saved in the console, defaults. Each value keeps its
:class:`Source`, so the console can say where it came from and lock fields set by the
environment. Bad values raise :class:`ConfigError` naming every problem and what to set;
absent values stay ``None`` (the doctor reports them as ``config.missing``).

Django's settings module, the worker, the console and the doctor all call this module, so
they can never disagree about what a setting means (docs/style.md §11).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from postwarden.core.config import builders
from postwarden.core.config.model import Origin, Settings, Source
from postwarden.core.config.variables import BY_NAME, VARIABLES, Variable
from postwarden.core.i18n import Text, join, said
from postwarden.core.secrets import Secret

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    variable: str
    message: str
    source: Source

    def __str__(self) -> str:
        return self.said()

    def said(self) -> Text:
        """The problem, translatable (the variable's name and its value stay as written)."""
        return Text(
            "{variable} ({source}): {message}",
            variable=self.variable,
            source=self.source.describe(),
            message=self.message,
        )


class ConfigError(ValueError):
    """Settings that cannot be used. ``str()`` lists every problem (English); :meth:`said`
    is the same in the reader's language (core/i18n.py). Never a secret value."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__(str(self.said()))

    def said(self, *, one_line: bool = False) -> Text:
        """Every problem under one heading, a line each (``one_line``: a command's one line)."""
        bullet, separator = ("- ", " ") if one_line else ("  - ", "\n")
        lines = [join("", [bullet, problem.said()]) for problem in self.problems]
        return join(separator, [Text("Postwarden cannot use these settings:"), *lines])


@dataclass(frozen=True, slots=True)
class Layer:
    """Raw values from one place. ``details`` names the original variable where it differs
    (an importer's ``MB_EMAIL_SMTP_HOST``, a synonym, a ``*_FILE``)."""

    origin: Origin
    values: Mapping[str, str]
    details: Mapping[str, str] = field(default_factory=dict)


def env_layers(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> list[Layer]:
    """The environment, then the ``.env`` file (which never overrides the environment)."""
    env = dict(os.environ if environ is None else environ)
    layers = [_with_files(Layer(Origin.ENV, env))]
    if dotenv is not None and dotenv.is_file():
        from dotenv import dotenv_values  # only when a .env exists: keeps imports light

        values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
        layers.append(_with_files(Layer(Origin.DOTENV, values)))
    return layers


def _with_files(layer: Layer) -> Layer:
    """``NAME_FILE=/run/secrets/x`` means the value is that file's content (Docker secrets)."""
    values, details = dict(layer.values), dict(layer.details)
    for key, path in layer.values.items():
        name = key.removesuffix("_FILE")
        if key == name or not path or values.get(name):
            continue
        try:
            values[name] = Path(path).read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            values[name] = ""
            details[name] = Text("{key}: unreadable ({error})", key=key, error=exc.strerror)
            continue
        details[name] = key
    return Layer(layer.origin, values, details)


def resolve(*layers: Layer) -> Settings:
    """Resolve settings from ``layers`` (strongest first). Raises :class:`ConfigError`."""
    reader = Reader(layers)
    settings = builders.build(reader)
    if reader.problems:
        raise ConfigError(reader.problems)
    return settings


def resolve_environment(
    *,
    flags: Mapping[str, str] | None = None,
    stored: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = Path(".env"),
) -> Settings:
    """The usual stack: flags > environment > .env > stored (console) > defaults."""
    layers = [Layer(Origin.FLAG, flags or {})]
    layers += env_layers(environ, dotenv)
    layers.append(Layer(Origin.STORED, stored or {}))
    return resolve(*layers)


class Reader:
    """Looks variables up through the layers and records sources and problems.

    Handed to the builders; it is the only thing they read from."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = tuple(layers)
        self.problems: list[ConfigProblem] = []
        self.sources: dict[str, Source] = {}
        self.display: dict[str, str] = {}
        self.notes: list[str] = []

    def raw(self, name: str) -> tuple[str, Source] | None:
        var = BY_NAME[name]
        for layer in self.layers:
            if layer.origin is Origin.STORED and not var.storable:
                continue
            for key in (name, *var.synonyms):
                if "unreadable" in layer.details.get(key, ""):
                    self.problem(name, layer.details[key], Source(layer.origin, f"{key}_FILE"))
                    return None
                value = layer.values.get(key)
                if value is None or value.strip() == "":
                    continue  # empty means unset (Compose files often pass VAR= through)
                detail = layer.details.get(key, key if key != name else "")
                return value, Source(layer.origin, detail)
        return None

    def environment(self) -> Mapping[str, str]:
        """The process environment as the layers carry it (for what is not a setting, such
        as ``HOME`` or systemd's ``STATE_DIRECTORY``): the first environment layer."""
        return next((layer.values for layer in self.layers if layer.origin is Origin.ENV), {})

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        found = self.raw(name)
        if found is None:
            self.sources.setdefault(name, Source(Origin.DEFAULT))
            return default
        value, source = found
        self.sources[name] = source
        try:
            parsed = parse(value)
        except ValueError as exc:
            shown = "" if BY_NAME[name].secret else f"={value.strip()!r}"
            self.problem(
                name, Text("{name}{shown} {problem}", name=name, shown=shown, problem=said(exc)), source
            )
            return default
        self.display[name] = _display(BY_NAME[name], value)
        return parsed

    def text(self, name: str) -> str | None:
        return self.get(name, lambda v: v.strip(), None)

    def secret(self, name: str) -> Secret:
        return self.get(name, Secret, Secret())

    def problem(self, name: str, message: str, source: Source | None = None) -> None:
        self.problems.append(
            ConfigProblem(name, message, source or self.sources.get(name, Source(Origin.DEFAULT)))
        )

    def note(self, text: str) -> None:
        self.notes.append(text)


def _display(var: Variable, value: str) -> str:
    if var.secret:
        return Secret(value).masked()
    if var.name == "DATABASE_URL":
        return redact_url(value.strip())
    return value.strip()


def redact_url(url: str) -> str:
    """``postgres://pw:s3cret@db/pw`` -> ``postgres://pw:••••@db/pw``."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:••••@{host}"


def describe(settings: Settings) -> list[tuple[Variable, str, Source]]:
    """Every variable with its display value (secrets masked) and source, in table order."""
    return [(var, settings.values.get(var.name, ""), settings.source(var.name)) for var in VARIABLES]
