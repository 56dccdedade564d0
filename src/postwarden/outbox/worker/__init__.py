"""The delivery worker (``postwarden worker``): see :mod:`postwarden.outbox.worker.loop`."""
