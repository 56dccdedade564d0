"""The SMTP client: :mod:`.session` (``SmtpSession``, ``Endpoint``), :mod:`.errors` (the
one exception family and ``map_exceptions``), :mod:`.transcript`, :mod:`.sync`.

Import from those modules; this package imports nothing itself, so that importing
:mod:`.stages` stays cheap."""
