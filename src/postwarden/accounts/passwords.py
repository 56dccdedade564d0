"""The password length rule with its words in Postwarden's catalog.

Django's ``MinimumLengthValidator`` says "This password is too short…" with a message id
(``%d``) that Django's own Persian catalog no longer has (it still has the older
``%(min_length)d``), so a Persian page showed it in English. Same rule, words of our own.
"""

from __future__ import annotations

from django.contrib.auth.password_validation import MinimumLengthValidator
from django.utils.translation import ngettext


class MinimumLength(MinimumLengthValidator):
    def get_error_message(self) -> str:
        return ngettext(
            "This password is too short: it must have at least %(min_length)d character.",
            "This password is too short: it must have at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}

    def get_help_text(self) -> str:
        return ngettext(
            "Your password must have at least %(min_length)d character.",
            "Your password must have at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}
