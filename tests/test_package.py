"""The wheel and the sdist as an operator installs them (issue #19): ``python -m build``
makes both (the wheel from the sdist, so the sdist is complete too); the wheel, installed
into a new virtual environment outside the checkout, has the migrations, templates, static
files and the doctor's schema, says its version, and ``postwarden serve`` run from
another directory, with no data directory given, makes its install in the user's data
directory, serves the console and its static files, and a ``send-test`` run from yet
another directory is captured there.

The new environment gets the dependencies from the suite's own environment (a ``.pth``
line: a ``.pth`` inside that directory, the checkout's editable install, is not read), so
the test needs no download; what it checks is the package itself."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import postwarden
from tests.ports import free_port
from tests.processes import stop_group
from tests.serving import get, start, tail, wait_until_up

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "postwarden"


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)])
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels = list(out.glob("postwarden-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    assert [p.name for p in out.glob("postwarden-*.tar.gz")] == [
        f"postwarden-{postwarden.__version__}.tar.gz"
    ]
    return wheels[0]


def test_the_wheel_holds_what_the_service_reads_at_run_time(wheel: Path) -> None:
    assert wheel.name == f"postwarden-{postwarden.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        f"postwarden/{path.relative_to(SOURCE)}"
        for path in SOURCE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert needed - names == set()
    assert any("/migrations/0001_initial.py" in name for name in names)
    assert "postwarden/doctor/schema.json" in names
    schema = zipfile.ZipFile(wheel).read("postwarden/doctor/schema.json")
    assert schema == (ROOT / "docs" / "doctor.schema.json").read_bytes()


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment outside the checkout with the wheel installed."""
    where = tmp_path_factory.mktemp("venv")
    made = run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    assert made.returncode == 0, made.stderr
    python = where / "bin" / "python"
    installed = run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)]
    )
    assert installed.returncode == 0, installed.stderr
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(purelib.stdout.strip(), "suite-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return where


def clean_env(home: Path, **more: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTWARDEN_", "SMTP_", "MAIL_", "EMAIL_", "DKIM_", "DJANGO_", "XDG_"))
        and k not in ("DATABASE_URL", "PYTHONPATH", "STATE_DIRECTORY", "TEST_EMAIL")
    }
    return {**env, "HOME": str(home), **more}


def test_the_installed_package_is_the_wheel_and_says_its_version(venv: Path, tmp_path: Path) -> None:
    where = run(
        [str(venv / "bin" / "python"), "-c", "import postwarden; print(postwarden.__file__)"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr
    version = run([str(venv / "bin" / "postwarden"), "--version"], cwd=tmp_path, env=clean_env(tmp_path))
    assert version.stdout.strip() == postwarden.__version__


def test_serve_from_elsewhere_uses_the_user_data_directory(venv: Path, tmp_path: Path) -> None:
    home, one, other = tmp_path / "home", tmp_path / "one", tmp_path / "other"
    for directory in (home, one, other):
        directory.mkdir()
    port = free_port()
    env = clean_env(home, POSTWARDEN_PORT=str(port), POSTWARDEN_SMTP_LISTEN=f"127.0.0.1:{free_port()}")
    log = tmp_path / "serve.log"
    process = start([str(venv / "bin" / "postwarden"), "serve"], env, one, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        data = home / ".local" / "share" / "postwarden"
        assert f"data:            {data}" in tail(log)
        assert {"postwarden.sqlite3", "secret_key"} <= {p.name for p in data.iterdir()}
        status, page = get(url + "/login/")
        assert status == 200
        assert b"/static/console/console.css" in page
        status, css = get(url + "/static/console/console.css")
        assert (status, css) == (200, (SOURCE / "console/static/console/console.css").read_bytes())
        sent = run(
            [str(venv / "bin" / "postwarden"), "send-test", "--to", "someone@example.com"], cwd=other, env=env
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "captured as" in sent.stdout
        assert list((data / "captured").iterdir())
        assert list(one.iterdir()) == list(other.iterdir()) == []  # nothing in the working directories
    finally:
        stop_group(process)
    assert process.returncode == 0, tail(log)
