"""Django settings for the test suite: the real settings, with a throwaway data directory
(so tests never touch ./data) and fast password hashing."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("POSTWARDEN_DATA_DIR", tempfile.mkdtemp(prefix="postwarden-test-"))
os.environ.setdefault("POSTWARDEN_SECRET_KEY", "test-secret-key-for-the-suite-only-0123456789")

from postwarden.settings import *  # noqa: F403

# argon2 is deliberately slow; the suite logs in hundreds of times
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
