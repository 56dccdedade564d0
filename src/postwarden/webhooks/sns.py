"""Amazon SNS message signatures, verified ourselves (anymail does not: "Future: Verify
SNS message signature" in anymail/webhooks/amazon_ses.py).

The procedure is AWS's "Verifying the signatures of Amazon SNS messages": build the
canonical string from the message's fields in a fixed order, fetch the signing
certificate from ``SigningCertURL`` — only from an ``https://sns.<region>.amazonaws.com``
host, or anyone could sign with their own certificate — and check the RSA signature with
SHA1 (SignatureVersion 1) or SHA256 (SignatureVersion 2).

Certificates are cached per URL. The fetcher is injectable (:func:`set_fetcher`) so tests
serve a locally made certificate; the same fetcher confirms subscriptions by loading
``SubscribeURL``, which must be on an SNS host too.

No Django here: the view (webhooks/views.py) turns :class:`SnsVerificationError` into a 400.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Fetcher = Callable[[str], bytes]

#: sns.<region>.amazonaws.com, and the China partition's amazonaws.com.cn
_SNS_HOST: Final = re.compile(r"^sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com(\.cn)?$")
_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_MAX_DOWNLOAD: Final = 64 * 1024
_CACHE_SIZE: Final = 16


class SnsVerificationError(Exception):
    """The message is not provably from Amazon SNS. The text names why, never a secret."""


def sns_url(url: str, *, pem: bool = False) -> str:
    """``url`` if it is ``https://sns.<region>.amazonaws.com/…`` (with a ``.pem`` path when
    ``pem``); raises SnsVerificationError otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or parts.username or parts.password or parts.port not in (None, 443):
        raise SnsVerificationError(f"refusing a non-SNS URL: {parts.scheme}://{host}{parts.path}")
    if not _SNS_HOST.match(host):
        raise SnsVerificationError(f"refusing a non-SNS host: {host}")
    if pem and not parts.path.endswith(".pem"):
        raise SnsVerificationError(f"refusing a signing certificate URL that is not a .pem: {parts.path}")
    return url


def canonical(message: Mapping[str, Any]) -> bytes:
    """The string SNS signs: ``Key\\nValue\\n`` for each present field, in AWS's order."""
    kind = message.get("Type")
    if kind not in _FIELDS:
        raise SnsVerificationError(f"unknown SNS message type {kind!r}")
    lines: list[str] = []
    for key in _FIELDS[str(kind)]:
        value = message.get(key)
        if value is None:
            if key == "Subject":  # the only optional field
                continue
            raise SnsVerificationError(f"SNS message without {key}")
        lines += [key, str(value)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def default_fetch(url: str) -> bytes:
    """GET ``url`` over verified HTTPS (the URL was checked by :func:`sns_url`)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - https only, host checked
        data: bytes = response.read(_MAX_DOWNLOAD + 1)
    if len(data) > _MAX_DOWNLOAD:
        raise SnsVerificationError("SNS answer larger than expected")
    return data


class SnsVerifier:
    """Verifies SNS messages; thread-safe; caches signing keys per certificate URL."""

    def __init__(self, fetcher: Fetcher = default_fetch) -> None:
        self.fetcher = fetcher
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, message: Mapping[str, Any]) -> None:
        """Raises SnsVerificationError unless ``message`` carries a valid SNS signature."""
        algorithm = _HASHES.get(str(message.get("SignatureVersion", "")))
        if algorithm is None:
            raise SnsVerificationError(f"unsupported SignatureVersion {message.get('SignatureVersion')!r}")
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SnsVerificationError("SNS signature is not base64") from exc
        key = self._key(sns_url(str(message.get("SigningCertURL", "")), pem=True))
        try:
            key.verify(signature, canonical(message), padding.PKCS1v15(), algorithm())
        except InvalidSignature as exc:
            raise SnsVerificationError("SNS signature does not match the message") from exc

    def confirm_subscription(self, message: Mapping[str, Any]) -> None:
        """Confirm a subscription by loading its SubscribeURL (an SNS host only).
        Network errors propagate: the caller answers 500 and SNS tries again."""
        self.fetcher(sns_url(str(message.get("SubscribeURL", ""))))

    def forget(self) -> None:
        with self._lock:
            self._keys.clear()

    def _key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            if url in self._keys:
                self._keys.move_to_end(url)
                return self._keys[url]
        key = _public_key(self.fetcher(url))
        with self._lock:
            self._keys[url] = key
            while len(self._keys) > _CACHE_SIZE:
                self._keys.popitem(last=False)
        return key


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise SnsVerificationError("the signing certificate is not a PEM certificate") from exc
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SnsVerificationError("the signing certificate is outside its validity period")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsVerificationError("the signing certificate does not hold an RSA key")
    return key


VERIFIER: Final = SnsVerifier()


def set_fetcher(fetcher: Fetcher) -> Fetcher:
    """Replace how certificates and SubscribeURLs are fetched (tests); returns the previous
    fetcher and empties the certificate cache."""
    previous, VERIFIER.fetcher = VERIFIER.fetcher, fetcher
    VERIFIER.forget()
    return previous
