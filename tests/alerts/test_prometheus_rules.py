"""The shipped Prometheus alerting rules (docs/prometheus/alerts.yml): promtool (Debian's
prometheus package) accepts them, its unit tests (tests/alerts/prometheus/alerts.test.yml)
show each rule firing on its condition and not otherwise, and every metric the rules read
is one /metrics serves. Without promtool the test skips locally and fails under CI=true."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from django.test import Client

from tests import system

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus" / "alerts.yml"
RULE_TESTS = Path(__file__).parent / "prometheus" / "alerts.test.yml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = system.command("promtool", package="prometheus")
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", str(RULES), cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


def test_each_rule_fires_on_its_condition_and_only_then() -> None:
    done = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests notice a changed threshold (they are not vacuous)."""
    rules = tmp_path / "docs" / "prometheus"
    rules.mkdir(parents=True)
    (rules / "alerts.yml").write_text(RULES.read_text().replace("> 900", "> 9000"))
    tests = tmp_path / "tests" / "alerts" / "prometheus"
    tests.mkdir(parents=True)
    (tests / "alerts.test.yml").write_text(RULE_TESTS.read_text())
    done = promtool("test", "rules", "alerts.test.yml", cwd=tests)
    assert done.returncode != 0
    assert "alertname: PostwardenBacklog" in done.stdout + done.stderr


@pytest.mark.django_db
def test_every_metric_the_rules_read_is_served() -> None:
    exposed = set(re.findall(r"^# TYPE (\S+) (\S+)", Client().get("/metrics").content.decode(), re.M))
    names = set()
    for name, kind in exposed:
        names.add(name)
        if kind == "counter":
            names.add(f"{name}_total")
    read = set(re.findall(r"\b(postwarden_[a-z_]+)\b", RULES.read_text()))
    assert read, "the rules read no metric"
    assert read <= names, sorted(read - names)
