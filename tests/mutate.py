"""make mutate: mutmut over the modules where a silent break costs most, then a report.

    python -m tests.mutate [--jobs N] [module ...]

``module`` is a dotted name from ``[tool.mutmut] only_mutate`` in pyproject.toml
(``postwarden.outbox.retry``); without one, every module there. Every mutant of the
chosen modules is tested afresh; ./mutants keeps mutmut's copy of the tree and its map of
which test reaches which function (``rm -rf mutants`` to start over). The report gives
per module the mutants, how many the tests killed, how many survived (the tests still
pass with the mutant in place), and each survivor's diff.
docs/testing.md says how to read it and why each remaining survivor is acceptable.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
#: `mutmut results --all true` prints "    <module>.<function>__mutmut_<n>: <status>"
_RESULT = re.compile(r"^\s+(?P<name>\S+__mutmut_\d+): (?P<status>.+)$")
#: the columns of the report, in mutmut's words ("no tests": no selected test reaches the
#: function; "not checked": not run yet)
COLUMNS = ("killed", "survived", "no tests", "timeout", "suspicious", "not checked")


def configured_modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return [path.removeprefix("src/").removesuffix(".py").replace("/", ".") for path in config["only_mutate"]]


def module_of(mutant: str, modules: list[str]) -> str | None:
    for module in modules:
        if mutant.startswith(module + "."):
            return module
    return None


def results(modules: list[str]) -> dict[str, dict[str, str]]:
    """{module: {mutant: status}} from mutmut's stored results."""
    out = subprocess.run([MUTMUT, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True)
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for line in out.stdout.splitlines():
        if (match := _RESULT.match(line)) and (module := module_of(match["name"], modules)):
            found[module][match["name"]] = match["status"].strip()
    return found


def diff(mutant: str) -> list[str]:
    shown = subprocess.run([MUTMUT, "show", mutant], cwd=ROOT, capture_output=True, text=True).stdout
    return [line for line in shown.splitlines() if line[:1] in ("-", "+") and line[:3] not in ("---", "+++")]


def report(modules: list[str], found: dict[str, dict[str, str]]) -> int:
    print(f"\n{'module':40} {'mutants':>7} " + " ".join(f"{c:>11}" for c in COLUMNS))
    survivors = 0
    for module in modules:
        counts = Counter(found.get(module, {}).values())
        print(f"{module:40} {sum(counts.values()):>7} " + " ".join(f"{counts[c]:>11}" for c in COLUMNS))
    for module in modules:
        alive = sorted(name for name, status in found.get(module, {}).items() if status == "survived")
        if not alive:
            continue
        print(f"\n== surviving mutants of {module} ({len(alive)})")
        for name in alive:
            survivors += 1
            print(f"-- {name.removeprefix(module + '.')}")
            for line in diff(name):
                print(f"   {line}")
    return survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="dotted module names (default: all configured)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--report-only", action="store_true", help="print the stored results only")
    args = parser.parse_args(argv)
    configured = configured_modules()
    unknown = sorted(set(args.modules) - set(configured))
    if unknown:
        parser.error(
            f"not in [tool.mutmut] only_mutate: {', '.join(unknown)} (known: {', '.join(configured)})"
        )
    modules = args.modules or configured
    if not args.report_only:
        globs = [f"{module}.*" for module in modules]
        run = subprocess.run([MUTMUT, "run", "--max-children", str(args.jobs), *globs], cwd=ROOT)
        if run.returncode != 0:
            print(f"mutmut run exited with {run.returncode}", file=sys.stderr)
            return run.returncode
    report(modules, results(modules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
