"""Every document the code names is in the repository (issue #13: the design lives here).

A reference such as ``docs/spec/doctor.md``, ``decisions/0004-in-process-sending.md`` or
``docs/style.md §10`` in a comment, docstring or template must resolve: the file exists, and
a numbered section exists in it. A moved or renamed document then fails here, not in a
reader's hands.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "postwarden"
# a path ending in a document suffix, optionally followed by a section sign and its number
REFERENCE = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w.-]+\.(?:md|json|ya?ml))(?:,? ?§ ?(\d+(?:\.\d+)*))?")
# paths the code quotes from other products, not documents of this repository
FOREIGN = ("/opt/", "server/public/")
# file names that are JSON keys or API paths in the code, not documents
NOT_DOCUMENTS = re.compile(
    r"^(?:[\w-]+/)*(?:response|config|args|senders|rows|ping\d?|key|domains|openapi)\.json$"
)


def references() -> list[tuple[Path, int, str, str | None]]:
    found = []
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in (".py", ".html", ".txt", ".css", ".js") or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(foreign in line for foreign in FOREIGN):
                continue
            for match in REFERENCE.finditer(line):
                name, section = match.group(1), match.group(2)
                if not NOT_DOCUMENTS.match(name) and not name.startswith("psycopg."):
                    found.append((path, number, name, section))
    return found


def resolve(name: str) -> Path | None:
    for base in (ROOT, ROOT / "docs"):
        if (base / name).is_file():
            return base / name
    return None


def has_section(document: Path, section: str) -> bool:
    text = document.read_text(encoding="utf-8")
    numbered_item = re.search(rf"^{re.escape(section)}\. ", text, re.MULTILINE)
    heading = re.search(rf"^#+ {re.escape(section)}[ .]", text, re.MULTILINE)
    return bool(numbered_item or heading)


def test_the_code_names_documents() -> None:
    """The scan sees the references it is meant to check (it is not vacuously green)."""
    names = {name for _, _, name, _ in references()}
    assert {"docs/spec/doctor.md", "docs/style.md", "docs/performance.md"} <= names


def test_every_document_the_code_names_is_in_the_repository() -> None:
    missing = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path, line, name, _ in references()
        if resolve(name) is None
    ]
    assert missing == []


def test_every_section_the_code_cites_exists() -> None:
    missing = []
    for path, line, name, section in references():
        document = resolve(name)
        if section and document and not has_section(document, section):
            missing.append(f"{path.relative_to(ROOT)}:{line}: {name} §{section}")
    assert missing == []
