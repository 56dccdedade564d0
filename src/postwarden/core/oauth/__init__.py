"""OAuth2 access tokens for SMTP sign-in (XOAUTH2 / OAUTHBEARER), issue #12.

* :mod:`.sources` -- where a token comes from: Microsoft's identity platform through
  ``msal``, Google through ``google-auth``, any other token endpoint (RFC 6749);
* :mod:`.cache` -- one cached token per worker, refreshed before it expires and on
  demand when a server refuses it;
* :mod:`.errors` -- :class:`TokenError`, carrying the identity platform's own words.

Tokens are :class:`~postwarden.core.secrets.Secret` values from the moment they arrive.
"""
