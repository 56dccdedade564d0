"""A small OAuth2 / OpenID identity server on loopback, for tests and for trying Postwarden's
OAuth2 sign-in by hand (``python -m tests.oauthlab``).

It speaks the parts of the platforms that Postwarden's libraries ask for, in each
platform's documented format:

* Microsoft's identity platform, for ``msal``: ``GET /<tenant>/v2.0/.well-known/
  openid-configuration`` and ``POST /<tenant>/oauth2/v2.0/token`` (client credentials
  with a secret or a certificate-signed client assertion, refresh tokens), refusing with
  ``{"error", "error_description": "AADSTS…", "error_codes", "trace_id", …}``: AADSTS90002
  (no such tenant), AADSTS700016 (no such app), AADSTS7000215 (wrong secret), AADSTS700024
  (client assertion outside its time), AADSTS70008 (refresh token expired);
* Google's token endpoint, for ``google-auth``: ``POST /google/token`` with a service
  account's signed JWT (RFC 7523), refusing with ``invalid_grant`` ("Invalid JWT
  Signature.", "Invalid JWT: Token must be a short-lived token …") or
  ``unauthorized_client`` when domain-wide delegation is missing;
* Google's delegated sign-in: ``GET /google/auth`` (consent at once, or ``error=
  access_denied``; a refresh token only with ``access_type=offline``, and for a client the
  person consented to before only with ``prompt=consent``), the authorization code traded
  at ``/google/token`` with its PKCE verifier ("Invalid code verifier.", "Malformed auth
  code."), and ``POST /google/device/code``, which refuses Gmail's scope (``invalid_scope``)
  as Google's limited-input device flow does;
* any RFC 6749 endpoint: ``GET /generic/authorize`` and ``POST /generic/token`` (client
  credentials with HTTP Basic, authorization codes with PKCE, refresh tokens).

Access tokens are RS256-signed JWTs (PyJWT) with ``aud``, ``exp``, the mailbox or app
and the scopes/roles, so the SMTP side (tests/smtpd, ``bearer=``) verifies them as
Exchange and Gmail would. HTTPS with a trustme certificate (msal speaks only to https
authorities). Knobs for faults: ``down`` (answers 503), ``clock_offset`` (the server's
clock against ours), ``lifetime`` of tokens, and the registered apps, keys and tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

import jwt
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postwarden.core.config.model import OAuth2Provider, OAuth2Settings
from postwarden.core.secrets import Secret

MS_AUDIENCE = "https://outlook.office365.com"
GOOGLE_SCOPE = "https://mail.google.com/"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Google: "Token must be a short-lived token (60 minutes) and in a reasonable timeframe"
_GOOGLE_SKEW = 300
#: Microsoft accepts client assertions within a few minutes of its clock
_MS_SKEW = 300


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class App:
    """A client registered at the identity server."""

    client_id: str
    tenant: str = ""
    secret: str | None = None
    #: the public certificate a client assertion is checked against
    certificate: x509.Certificate | None = None
    roles: tuple[str, ...] = ("SMTP.SendAsApp",)


@dataclass
class ServiceAccount:
    client_email: str
    key: rsa.RSAPrivateKey
    key_id: str
    #: mailboxes it may act as (domain-wide delegation)
    delegated: set[str] = field(default_factory=set)
    disabled: bool = False


@dataclass
class Grant:
    """A refresh token: who it is for and for which client."""

    client_id: str
    user: str
    scope: str
    revoked: bool = False


def self_signed(common_name: str = "postwarden-test-app") -> tuple[str, x509.Certificate]:
    """A PEM holding a certificate and its private key (what OAUTH2_CLIENT_CERT_FILE holds)."""
    import datetime as dt

    key = new_key()
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return _pem(key) + cert.public_bytes(serialization.Encoding.PEM).decode(), cert


class IdentityServer:
    """See the module docstring. ``start()`` it; ``url`` is ``https://127.0.0.1:<port>``."""

    def __init__(self, cert: trustme.LeafCert, *, host: str = "127.0.0.1") -> None:
        self._cert = cert
        self.host = host
        self.port = 0
        self.signing_key = new_key()
        self.key_id = "pw-test-1"
        self.tenants: set[str] = set()
        self.apps: dict[str, App] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.grants: dict[str, Grant] = {}
        self.lifetime = 3599
        self.down = False
        self.clock_offset = 0.0
        #: every token issued: (grant type, client, subject)
        self.issued: list[tuple[str, str, str]] = []
        #: every access token issued (the secrets sweep looks for them)
        self.tokens: list[str] = []
        #: who signs in at /authorize and approves device codes (delegated flows)
        self.user = "alerts@contoso.test"
        #: False: the person declines consent (access_denied)
        self.consent = True
        #: Microsoft answers a refresh with a new refresh token; strict servers retire the old one
        self.rotate_refresh_tokens = False
        #: (client, user) pairs that consented before (Google then omits the refresh token)
        self.consented: set[tuple[str, str]] = set()
        self._codes: dict[str, dict[str, str]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def public_key(self) -> Any:
        return self.signing_key.public_key()

    def now(self) -> float:
        return time.time() + self.clock_offset

    def register_app(
        self,
        tenant: str,
        client_id: str | None = None,
        *,
        secret: str | None = None,
        certificate: x509.Certificate | None = None,
        roles: tuple[str, ...] = ("SMTP.SendAsApp",),
    ) -> App:
        app = App(client_id or str(uuid.uuid4()), tenant, secret, certificate, roles)
        with self._lock:
            self.tenants.add(tenant)
            self.apps[app.client_id] = app
        return app

    def register_service_account(self, email: str, *, delegated: set[str] | None = None) -> dict[str, Any]:
        """The service account's JSON key file, as Google's console downloads it."""
        account = ServiceAccount(email, new_key(), secrets.token_hex(20), set(delegated or ()))
        with self._lock:
            self.service_accounts[email] = account
        return {
            "type": "service_account",
            "project_id": "postwarden-test",
            "private_key_id": account.key_id,
            "private_key": _pem(account.key),
            "client_email": email,
            "client_id": str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big")),
            "auth_uri": f"{self.url}/google/auth",
            "token_uri": f"{self.url}/google/token",
        }

    def register_refresh_token(self, client_id: str, user: str, scope: str) -> str:
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self.grants[token] = Grant(client_id, user, scope)
        return token

    # -- tokens ------------------------------------------------------------------------

    def _access_token(self, claims: Mapping[str, Any]) -> tuple[str, int]:
        now = int(self.now())
        body = {"iat": now, "nbf": now, "exp": now + self.lifetime, "jti": secrets.token_hex(8), **claims}
        token = jwt.encode(body, self.signing_key, algorithm="RS256", headers={"kid": self.key_id})
        self.tokens.append(token)
        return token, self.lifetime

    def verify(self, token: str, *, audience: str, clock_offset: float = 0.0) -> dict[str, Any]:
        """The claims of a token this server issued, checked for signature, audience and
        expiry (against our clock moved by ``clock_offset``). Raises jwt.InvalidTokenError."""
        claims: dict[str, Any] = jwt.decode(
            token,
            self.public_key,
            algorithms=["RS256"],
            audience=audience,
            options={
                "require": ["exp", "aud"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        now = time.time() + clock_offset
        if int(claims["exp"]) <= now:
            raise jwt.ExpiredSignatureError("Signature has expired")
        if int(claims.get("nbf", 0)) > now + 300:
            raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
        return claims

    # -- serving -----------------------------------------------------------------------

    def start(self) -> IdentityServer:
        handler = type("Handler", (_Handler,), {"identity": self})
        server = ThreadingHTTPServer((self.host, 0), handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="oauthd", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _b64_bytes(text: str) -> bytes:
    """A thumbprint in base64 or base64url, padded or not."""
    padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded)
    except ValueError:
        return b""


def _ms_error(status: int, error: str, code: int, text: str) -> tuple[int, dict[str, Any]]:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return status, {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} "
        f"Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def _oauth_error(status: int, error: str, text: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": text}


class _Handler(BaseHTTPRequestHandler):
    identity: IdentityServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read .requests

    def _answer(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _unavailable(self) -> bool:
        if not self.identity.down:
            return False
        data = b"<html><body>Service Unavailable</body></html>"
        self.send_response(503)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True

    def do_GET(self) -> None:
        self.identity.requests.append(f"GET {self.path}")
        if self._unavailable():
            return
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            self._answer(*self._openid(parts[0]))
            return
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "authorize"]:
            self._authorize(parse_qs(self.path.split("?", 1)[1] if "?" in self.path else ""))
            return
        if parts in (["google", "auth"], ["generic", "authorize"]):
            self._authorize(parse_qs(self.path.split("?", 1)[1] if "?" in self.path else ""), google=True)
            return
        self._answer(404, {"error": "not_found"})

    def _authorize(self, query: dict[str, list[str]], *, google: bool = False) -> None:
        """Signs ``identity.user`` in and consents at once (a real platform shows pages).
        ``google``: Google's (and RFC 6749's) answer: ``error=access_denied`` alone on a
        refusal; at /google/auth a refresh token later only for ``access_type=offline``."""
        q = {k: v[0] for k, v in query.items()}
        redirect = q.get("redirect_uri", "")
        if not self.identity.consent:
            answer = {"error": "access_denied", "state": q.get("state", "")}
            if not google:
                answer["error_description"] = "AADSTS65004: User declined to consent."
        else:
            code = "code-" + secrets.token_urlsafe(16)
            self.identity._codes[code] = {
                "client_id": q.get("client_id", ""),
                "redirect_uri": redirect,
                "challenge": q.get("code_challenge", ""),
                "method": q.get("code_challenge_method", ""),
                "user": self.identity.user,
                "scope": q.get("scope", ""),
                "access_type": q.get("access_type", "online"),
                "prompt": q.get("prompt", ""),
                "platform": "google" if google and self.path.startswith("/google/") else "other",
            }
            answer = {"code": code, "state": q.get("state", "")}
        self.send_response(302)
        self.send_header("Location", redirect + ("&" if "?" in redirect else "?") + urlencode(answer))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _openid(self, tenant: str) -> tuple[int, dict[str, Any]]:
        ident = self.identity
        if tenant not in ident.tenants:
            return _ms_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud.",
            )
        base = f"{ident.url}/{tenant}"
        return 200, {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Issued approved at once (``identity.user`` signs in on another device)."""
        code = "device-" + secrets.token_urlsafe(16)
        user_code = secrets.token_hex(4).upper()
        self.identity._codes[code] = {"client_id": form.get("client_id", ""), "user": self.identity.user}
        url = f"{self.identity.url}/devicelogin"
        return 200, {
            "device_code": code,
            "user_code": user_code,
            "verification_uri": url,
            "expires_in": 900,
            "interval": 1,
            "message": f"To sign in, use a web browser to open the page {url} and enter the code {user_code} "
            "to authenticate.",
        }

    def do_POST(self) -> None:
        self.identity.requests.append(f"POST {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if self._unavailable():
            return
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            self._answer(*_Microsoft(self.identity, parts[0], form).answer())
        elif len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "devicecode"]:
            self._answer(*self._device_code(form))
        elif parts == ["google", "device", "code"]:
            self._answer(*_google_device_code(form))
        elif parts == ["google", "token"]:
            self._answer(*_Google(self.identity, form).answer())
        elif parts == ["generic", "token"]:
            self._answer(*_Generic(self.identity, form, self.headers.get("Authorization", "")).answer())
        else:
            self._answer(404, {"error": "not_found"})


class _Microsoft:
    def __init__(self, identity: IdentityServer, tenant: str, form: dict[str, str]) -> None:
        self.identity, self.tenant, self.form = identity, tenant, form

    def answer(self) -> tuple[int, dict[str, Any]]:
        ident, form = self.identity, self.form
        if self.tenant not in ident.tenants:
            return _ms_error(400, "invalid_request", 90002, f"Tenant '{self.tenant}' not found.")
        client_id = form.get("client_id", "")
        app = ident.apps.get(client_id)
        if app is None or app.tenant != self.tenant:
            return _ms_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You may have sent "
                "your authentication request to the wrong tenant.",
            )
        refused = self._client_refusal(app)
        if refused is not None:
            return refused
        if form.get("grant_type") == "refresh_token":
            return self._refresh(app)
        if form.get("grant_type") in ("authorization_code", "urn:ietf:params:oauth:grant-type:device_code"):
            return self._code(app)
        if form.get("grant_type") != "client_credentials":
            return _ms_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        token, lifetime = ident._access_token(
            {
                "aud": MS_AUDIENCE,
                "iss": f"https://sts.windows.net/{self.tenant}/",
                "tid": self.tenant,
                "appid": app.client_id,
                "roles": list(app.roles),
            }
        )
        ident.issued.append(("client_credentials", app.client_id, app.client_id))
        return 200, {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    def _client_refusal(self, app: App) -> tuple[int, dict[str, Any]] | None:
        form = self.form
        if "client_assertion" in form:
            return self._assertion_refusal(app, form["client_assertion"])
        secret = form.get("client_secret")
        if secret is None:
            if form.get("grant_type") != "client_credentials" and app.secret is None:
                return None  # a public client
            return _ms_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        if app.secret is None or not secrets.compare_digest(secret, app.secret):
            return _ms_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{app.client_id}'.",
            )
        return None

    def _assertion_refusal(self, app: App, assertion: str) -> tuple[int, dict[str, Any]] | None:
        if app.certificate is None:
            return _ms_error(401, "invalid_client", 700027, "Client assertion contains an invalid signature.")
        header = jwt.get_unverified_header(assertion)
        given = str(header.get("x5t#S256") or header.get("x5t") or "")
        digest = hashes.SHA256() if "x5t#S256" in header else hashes.SHA1()  # noqa: S303 - x5t is SHA-1 by definition
        if _b64_bytes(given) != app.certificate.fingerprint(digest):
            return _ms_error(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on "
                f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                f"'{given}']",
            )
        try:
            claims = jwt.decode(
                assertion,
                app.certificate.public_key(),
                algorithms=["PS256", "RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidTokenError:
            return _ms_error(401, "invalid_client", 700027, "Client assertion contains an invalid signature.")
        now = self.identity.now()
        if not (int(claims.get("nbf", 0)) - _MS_SKEW <= now <= int(claims.get("exp", 0)) + _MS_SKEW):
            return _ms_error(
                401,
                "invalid_client",
                700024,
                f"Client assertion is not within its valid time range. Current time: "
                f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(now))}Z, assertion valid from "
                f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(int(claims.get('nbf', 0))))}Z.",
            )
        return None

    def _code(self, app: App) -> tuple[int, dict[str, Any]]:
        form = self.form
        key = form.get("code") or form.get("device_code") or ""
        grant = self.identity._codes.pop(key, None)
        if grant is None or grant["client_id"] != app.client_id:
            return _ms_error(
                400, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid."
            )
        if "challenge" in grant:
            verifier = form.get("code_verifier", "")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if grant["method"] != "S256" or not secrets.compare_digest(digest, grant["challenge"]):
                return _ms_error(
                    400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge."
                )
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return _ms_error(400, "invalid_grant", 50148, "The redirect_uri does not match the one used.")
        refresh = self.identity.register_refresh_token(app.client_id, grant["user"], "SMTP.Send")
        token, lifetime = self.identity._access_token(
            {
                "aud": MS_AUDIENCE,
                "tid": self.tenant,
                "appid": app.client_id,
                "upn": grant["user"],
                "scp": "SMTP.Send",
            }
        )
        self.identity.issued.append((str(self.form.get("grant_type")), app.client_id, grant["user"]))
        return 200, {
            "token_type": "Bearer",
            "scope": "https://outlook.office.com/SMTP.Send",
            "expires_in": lifetime,
            "access_token": token,
            "refresh_token": refresh,
        }

    def _refresh(self, app: App) -> tuple[int, dict[str, Any]]:
        ident = self.identity
        grant = ident.grants.get(self.form.get("refresh_token", ""))
        if grant is None or grant.revoked or grant.client_id != app.client_id:
            return _ms_error(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            )
        token, lifetime = ident._access_token(
            {
                "aud": MS_AUDIENCE,
                "tid": self.tenant,
                "appid": app.client_id,
                "upn": grant.user,
                "scp": "SMTP.Send",
            }
        )
        ident.issued.append(("refresh_token", app.client_id, grant.user))
        refresh = self.form.get("refresh_token", "")
        if ident.rotate_refresh_tokens:  # a new refresh token each time; the used one stops working
            grant.revoked = True
            refresh = ident.register_refresh_token(app.client_id, grant.user, grant.scope)
        return 200, {
            "token_type": "Bearer",
            "scope": "https://outlook.office.com/SMTP.Send",
            "expires_in": lifetime,
            "access_token": token,
            "refresh_token": refresh,
        }


class _Google:
    def __init__(self, identity: IdentityServer, form: dict[str, str]) -> None:
        self.identity, self.form = identity, form

    def answer(self) -> tuple[int, dict[str, Any]]:
        if self.form.get("grant_type") in ("refresh_token", "authorization_code"):
            return _Generic(self.identity, self.form, "").answer(audience=GOOGLE_SCOPE)
        if self.form.get("grant_type") != _JWT_BEARER:
            return _oauth_error(
                400, "unsupported_grant_type", "Invalid grant_type: " + self.form.get("grant_type", "")
            )
        assertion = self.form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return _oauth_error(400, "invalid_request", "Invalid JWT.")
        account = self.identity.service_accounts.get(str(unverified.get("iss")))
        if account is None or account.disabled:
            return _oauth_error(400, "invalid_grant", "Invalid grant: account not found")
        try:
            claims = jwt.decode(
                assertion,
                account.key.public_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            return _oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        now = self.identity.now()
        iat, exp = int(claims.get("iat", 0)), int(claims.get("exp", 0))
        if not (iat - _GOOGLE_SKEW <= now <= exp + _GOOGLE_SKEW) or exp - iat > 3600:
            return _oauth_error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        subject, scope = str(claims.get("sub") or ""), str(claims.get("scope") or "")
        if subject and subject not in account.delegated:
            return _oauth_error(
                401,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not "
                "authorized for any of the scopes requested.",
            )
        token, lifetime = self.identity._access_token(
            {
                "aud": GOOGLE_SCOPE,
                "email": subject or account.client_email,
                "scope": scope,
                "azp": account.client_email,
            }
        )
        self.identity.issued.append((_JWT_BEARER, account.client_email, subject))
        return 200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}


def _google_device_code(form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Google's device endpoint: the flow for limited-input devices allows only a few
    scopes (openid, email, profile, Drive's per-file and YouTube's), not Gmail's."""
    allowed = {"openid", "email", "profile", "https://www.googleapis.com/auth/drive.file"}
    if not set(form.get("scope", "").split()) <= allowed:
        return _oauth_error(400, "invalid_scope", "Invalid device flow scope: " + form.get("scope", ""))
    return _oauth_error(400, "invalid_request", "device codes are not issued by this test server")


class _Generic:
    def __init__(self, identity: IdentityServer, form: dict[str, str], authorization: str) -> None:
        self.identity, self.form, self.authorization = identity, form, authorization

    def _code(self, client_id: str, audience: str) -> tuple[int, dict[str, Any]]:
        """RFC 6749 4.1.3 with PKCE, in Google's words for each refusal."""
        ident, form = self.identity, self.form
        grant = ident._codes.pop(form.get("code", ""), None)
        if grant is None or grant["client_id"] != client_id:
            return _oauth_error(400, "invalid_grant", "Malformed auth code.")
        if grant.get("challenge"):
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if grant["method"] != "S256" or not secrets.compare_digest(digest, grant["challenge"]):
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        token, lifetime = ident._access_token(
            {"aud": audience, "email": grant["user"], "scope": grant["scope"]}
        )
        ident.issued.append(("authorization_code", client_id, grant["user"]))
        answer: dict[str, Any] = {
            "access_token": token,
            "expires_in": lifetime,
            "scope": grant["scope"],
            "token_type": "Bearer",
        }
        # Google: a refresh token only offline, and only at the first consent unless prompt=consent
        first = (client_id, grant["user"]) not in ident.consented
        offline = grant["access_type"] == "offline" and (first or grant["prompt"] == "consent")
        if offline or grant["platform"] != "google":
            answer["refresh_token"] = ident.register_refresh_token(client_id, grant["user"], grant["scope"])
        ident.consented.add((client_id, grant["user"]))
        return 200, answer

    def _client(self) -> tuple[str, str | None]:
        if self.authorization.lower().startswith("basic "):
            raw = base64.b64decode(self.authorization[6:]).decode()
            client_id, _, secret = raw.partition(":")
            return unquote(client_id), unquote(secret)
        return self.form.get("client_id", ""), self.form.get("client_secret")

    def answer(self, *, audience: str = "generic-smtp") -> tuple[int, dict[str, Any]]:
        client_id, secret = self._client()
        app = self.identity.apps.get(client_id)
        if app is None or (
            app.secret is not None and (secret is None or not secrets.compare_digest(secret, app.secret))
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        grant_type = self.form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code(client_id, audience)
        if grant_type == "refresh_token":
            grant = self.identity.grants.get(self.form.get("refresh_token", ""))
            if grant is None or grant.revoked or grant.client_id != client_id:
                return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
            token, lifetime = self.identity._access_token(
                {"aud": audience, "email": grant.user, "scope": grant.scope}
            )
            self.identity.issued.append(("refresh_token", client_id, grant.user))
            answer = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
            if self.identity.rotate_refresh_tokens:
                grant.revoked = True
                answer["refresh_token"] = self.identity.register_refresh_token(
                    client_id, grant.user, grant.scope
                )
            return 200, answer
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        token, lifetime = self.identity._access_token(
            {"aud": audience, "client_id": client_id, "scope": self.form.get("scope", "")}
        )
        self.identity.issued.append(("client_credentials", client_id, client_id))
        return 200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}


#: Exchange Online's words (trace ids shortened)
EXCHANGE_REFUSED = "535 5.7.3 Authentication unsuccessful [PH0PR07CA0036.namprd07.prod.outlook.com]"
EXCHANGE_SMTP_AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
    "Visit https://aka.ms/smtp_auth_disabled for more information. [PH0PR07CA0036.namprd07.prod.outlook.com]"
)
#: Gmail's, after its base64 JSON challenge
GMAIL_REFUSED = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a170902\u00a0- gsmtp"
).replace("\u00a0", "")


@dataclass
class BearerCheck:
    """How an SMTP server (tests/smtpd ``bearer=``) judges a token, as Exchange Online
    (``style="exchange"``) or Gmail (``"gmail"``) does; ``"generic"`` checks like Gmail.

    Exchange wants ``aud`` https://outlook.office365.com, an app with the role
    SMTP.SendAsApp whose service principal may use the mailbox (``mailboxes``), or a
    person's token (``upn``) for themselves, and SMTP AUTH on for the mailbox. Gmail wants
    ``aud``/scope https://mail.google.com/ and ``email`` = the user. ``clock_offset``:
    this server's clock against ours; ``revoked``: token ids (jti) refused though valid.
    """

    identity: IdentityServer
    style: str = "exchange"
    mailboxes: dict[str, set[str]] = field(default_factory=dict)
    smtp_auth_disabled: set[str] = field(default_factory=set)
    clock_offset: float = 0.0
    revoked: set[str] = field(default_factory=set)
    #: (user, outcome) per AUTH: "ok", or why it was refused
    attempts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def audience(self) -> str:
        return {"exchange": MS_AUDIENCE, "gmail": GOOGLE_SCOPE}.get(self.style, "generic-smtp")

    def judge(self, user: str, token: str) -> str:
        """ "ok", or the reason for refusing (recorded in ``attempts``)."""
        verdict = self._judge(user, token)
        self.attempts.append((user, verdict))
        return verdict

    def _judge(self, user: str, token: str) -> str:
        try:
            claims = self.identity.verify(token, audience=self.audience, clock_offset=self.clock_offset)
        except jwt.ExpiredSignatureError:
            return "expired"
        except jwt.InvalidAudienceError:
            return "scope"
        except jwt.InvalidTokenError:
            return "invalid"
        if claims.get("jti") in self.revoked:
            return "revoked"
        if self.style != "exchange":
            if claims.get("aud") == GOOGLE_SCOPE and GOOGLE_SCOPE not in str(claims.get("scope", "")).split():
                return "scope"
            subject = claims.get("email")
            return "ok" if subject in (None, user) or self.style == "generic" else "user"
        if user.lower() in self.smtp_auth_disabled:
            return "smtp_auth_disabled"
        if "upn" in claims:
            return "ok" if str(claims["upn"]).lower() == user.lower() else "user"
        allowed = self.mailboxes.get(str(claims.get("appid")), set())
        if "SMTP.SendAsApp" not in claims.get("roles", ()) or user.lower() not in allowed:
            return "no_permission"
        return "ok"

    def refusal(self, verdict: str) -> tuple[str | None, str]:
        """(the JSON error challenge to send first or None, the final reply)."""
        if self.style == "exchange":
            if verdict == "smtp_auth_disabled":
                return None, EXCHANGE_SMTP_AUTH_DISABLED
            return None, EXCHANGE_REFUSED
        status = "400" if verdict == "scope" else "401"
        challenge = json.dumps(
            {"status": status, "schemes": "bearer", "scope": GOOGLE_SCOPE}, separators=(",", ":")
        )
        return challenge, GMAIL_REFUSED


@pytest.fixture
def identity(server_cert: trustme.LeafCert, ssl_cert_file: object) -> Iterator[IdentityServer]:
    """A started :class:`IdentityServer` on 127.0.0.1, trusted through ``SSL_CERT_FILE``."""
    server = IdentityServer(server_cert).start()
    try:
        yield server
    finally:
        server.stop()


#: the tenant and the client secret the SMTP and worker tests register their app with
TENANT = "contoso.onmicrosoft.test"
APP_SECRET = "Qx8~app-secret-Vq7.Lantern-2931"


def microsoft_oauth2(identity: IdentityServer, client_id: str, **changes: Any) -> OAuth2Settings:
    """App-only Microsoft settings against ``identity``, with ``changes`` applied."""
    base = OAuth2Settings(
        provider=OAuth2Provider.MICROSOFT,
        tenant_id=TENANT,
        client_id=client_id,
        client_secret=Secret(APP_SECRET),
        authority=identity.url,
    )
    return replace(base, **changes)
