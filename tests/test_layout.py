"""The names in src/ say which room they are in (docs/architecture.md, ## Names): no class
name is defined twice, so ``Outcome`` or ``Verdict`` in a traceback, a grep or a review
means one thing. Only the framework's own conventions repeat a name, and only with the
framework's base class.

A nested class counts by its qualified name (``Alert.Status`` and ``Delivery.Status`` are
two names; a model's ``Meta`` is ``Message.Meta``), since the outer class says the room.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "postwarden"

#: a class name the framework makes every app repeat -> the base class it must then have
FRAMEWORK = {
    "Migration": "migrations.Migration",  # one per Django migration file
    "Command": "BaseCommand",  # one per Django management command
}


def classes(tree: ast.Module) -> Iterator[tuple[str, ast.ClassDef]]:
    """Every class in a module with its qualified name (nested ones too)."""

    def walk(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, ast.ClassDef]]:
        for node in body:
            if isinstance(node, ast.ClassDef):
                yield prefix + node.name, node
                yield from walk(node.body, f"{prefix}{node.name}.")

    yield from walk(tree.body, "")


def framework_convention(name: str, node: ast.ClassDef) -> bool:
    bases = {ast.unparse(base) for base in node.bases}
    if name in FRAMEWORK:
        return FRAMEWORK[name] in bases
    # a Django app's AppConfig subclass, named after its app
    return name.endswith("Config") and bool(bases & {"AppConfig", "apps.AppConfig"})


def doubled_class_names(root: Path) -> dict[str, list[str]]:
    """Each class name defined more than once under ``root`` (outside the framework's
    conventions) -> where (``path:line``)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for name, node in classes(ast.parse(path.read_text(), str(path))):
            if not framework_convention(name, node):
                seen[name].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return {name: places for name, places in seen.items() if len(places) > 1}


def test_no_class_name_is_defined_twice_in_src() -> None:
    assert doubled_class_names(SRC) == {}


def test_it_finds_a_name_defined_twice_and_lets_the_framework_conventions_be(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "a").mkdir(parents=True)
    (root / "a" / "one.py").write_text(
        "class Outcome: ...\n"
        "class Message:\n    class Meta: ...\n"
        "class Migration(migrations.Migration): ...\n"
        "class AConfig(AppConfig): ...\n"
    )
    (root / "a" / "two.py").write_text(
        "class Outcome(enum.StrEnum): ...\n"
        "class Recipient:\n    class Meta: ...\n"
        "class Migration(migrations.Migration): ...\n"
        "class Command(BaseCommand): ...\n"
    )
    (root / "b.py").write_text(
        "class Command: ...\n"  # an SMTP command, not Django's: not the convention
        "class Command2: ...\n"
        "class AConfig: ...\n"  # not an AppConfig
    )
    assert doubled_class_names(root) == {"Outcome": ["pkg/a/one.py:1", "pkg/a/two.py:1"]}
    (root / "c.py").write_text("class Command: ...\nclass AConfig: ...\n")
    doubled = doubled_class_names(root)
    assert doubled["Command"] == ["pkg/b.py:1", "pkg/c.py:1"]
    assert doubled["AConfig"] == ["pkg/b.py:3", "pkg/c.py:2"]
    assert set(doubled) == {"Outcome", "Command", "AConfig"}
