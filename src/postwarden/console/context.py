from __future__ import annotations

from typing import Any

from django.http import HttpRequest

import postwarden


def console(request: HttpRequest) -> dict[str, Any]:
    return {"postwarden_version": postwarden.__version__}
