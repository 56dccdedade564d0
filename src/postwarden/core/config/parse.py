"""Parsers for setting values. Each returns the value or raises ``ValueError`` with a
message that says what a valid value looks like (hc/settings.py::envbool rejects junk too)."""

from __future__ import annotations

import binascii
import difflib
import ipaddress

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postwarden.core.config.model import Provider, Security
from postwarden.core.i18n import Number, Text
from postwarden.core.secrets import Secret

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}

#: the words other products use, by what they do on the wire (docs/spec/config.md)
SECURITY_WORDS: dict[str, Security] = {
    "none": Security.NONE,
    "plain": Security.NONE,  # Mattermost's "PLAIN" is no encryption
    "ssl": Security.SSL,
    "implicit": Security.SSL,
    "ssl/tls": Security.SSL,
    "smtps": Security.SSL,
    "starttls": Security.STARTTLS,
    "start_tls": Security.STARTTLS,
    "start-tls": Security.STARTTLS,
    "opportunistic": Security.OPPORTUNISTIC,
}
#: "tls" is resolved by the port, see resolve.py
AMBIGUOUS_TLS = "tls"

PROVIDER_WORDS: dict[str, Provider] = {p.value: p for p in Provider} | {
    "amazon_ses": Provider.SES,
    "amazon-ses": Provider.SES,
    "aws": Provider.SES,
}


def _one_of(word: str, choices: list[str]) -> Text:
    """The refusal of ``word``, naming the choices and the closest one (the messages are
    :class:`Text`: the command line and the console say them in the reader's language)."""
    close = difflib.get_close_matches(word, choices, n=1)
    listed = ", ".join(choices)
    if close:
        return Text("must be one of {choices}; did you mean {close}?", choices=listed, close=repr(close[0]))
    return Text("must be one of {choices}", choices=listed)


def parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(Text("must be true or false"))


def parse_int(raw: str, minimum: float | None, maximum: float | None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(_bounded(True, minimum, maximum)) from None
    _check_bounds(value, minimum, maximum)
    return value


def parse_float(raw: str, minimum: float | None, maximum: float | None) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(_bounded(False, minimum, maximum)) from None
    if value != value:  # NaN
        raise ValueError(_bounded(False, minimum, maximum))
    _check_bounds(value, minimum, maximum)
    return value


def _bounded(whole: bool, minimum: float | None, maximum: float | None) -> Text:
    """ "must be a (whole) number", with the bounds when there are both."""
    if minimum is None or maximum is None:
        return Text("must be a whole number") if whole else Text("must be a number")
    low, high = Number(minimum), Number(maximum)
    if whole:
        return Text("must be a whole number from {minimum:g} to {maximum:g}", minimum=low, maximum=high)
    return Text("must be a number from {minimum:g} to {maximum:g}", minimum=low, maximum=high)


def _check_bounds(value: float, minimum: float | None, maximum: float | None) -> None:
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is None or maximum is None:
            raise ValueError(Text("is out of range"))
        low, high = Number(minimum), Number(maximum)
        raise ValueError(Text("must be from {minimum:g} to {maximum:g}", minimum=low, maximum=high))


def parse_security(raw: str) -> Security | None:
    """The mode for ``raw``; ``None`` for the ambiguous ``tls`` (the caller decides by port)."""
    word = raw.strip().lower()
    if word == AMBIGUOUS_TLS:
        return None
    if word in SECURITY_WORDS:
        return SECURITY_WORDS[word]
    choices = [s.value for s in Security]
    raise ValueError(_one_of(word, choices))


def parse_provider(raw: str) -> Provider:
    word = raw.strip().lower()
    if word in PROVIDER_WORDS:
        return PROVIDER_WORDS[word]
    choices = [p.value for p in Provider]
    raise ValueError(_one_of(word, choices))


def parse_choice(raw: str, choices: tuple[str, ...]) -> str:
    word = raw.strip().lower()
    if word in choices:
        return word
    raise ValueError(_one_of(word, list(choices)))


def parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_domain(raw: str) -> str:
    """Lower-case IDNA (ASCII) form of a domain, as envelopes and DNS see it."""
    word = raw.strip().lower().rstrip(".")
    if word.startswith("@"):
        word = word[1:]
    if not word or any(c in word for c in " /@:\\,;"):
        raise ValueError(Text("{raw} is not a domain name", raw=repr(raw)))
    try:
        return word.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(Text("{raw} is not a valid internationalized domain name", raw=repr(raw))) from None


def parse_host_port(raw: str, default_port: int | None = None) -> tuple[str, int]:
    """``host``, ``host:port``, ``[::1]:port`` or a bare IPv6 address."""
    text = raw.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(Text("must be host:port (IPv6 as [::1]:port)"))
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") > 1:
        try:
            ipaddress.IPv6Address(text)  # a bare IPv6 address: no port
        except ValueError:
            raise ValueError(Text("must be host:port (IPv6 as [::1]:port)")) from None
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(Text("must be host:port"))
    if not port_text:
        if default_port is None:
            raise ValueError(Text("must be host:port"))
        return host, default_port
    return host, parse_int(port_text, 1, 65535)


def parse_network(raw: str) -> str:
    try:
        return str(ipaddress.ip_network(raw.strip(), strict=False))
    except ValueError:
        raise ValueError(Text("{raw} is not a network (use CIDR like 10.0.0.0/8)", raw=repr(raw))) from None


def parse_ec_public_key(raw: str) -> Secret:
    """An elliptic-curve public key as SendGrid shows its signed event webhook's key: the
    base64 body of a PEM ``PUBLIC KEY`` (the armour lines may be there too). Refused here,
    when it is saved or the service starts, rather than at the first webhook."""
    body = "".join(
        line.strip()
        for line in raw.strip().splitlines()
        if line.strip() and not line.strip().startswith("-----")
    )
    pem = f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----".encode()
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(
            Text(
                "is not a public key: paste the verification key SendGrid shows under Mail Settings, "
                "Event Webhook, Signature Verification (base64 text starting MFkw…)"
            )
        )
    return Secret(body)
