"""The container image (issue #19), built and run here: ``make container-test`` (minutes of
work, so not in ``make test``).

No image registry is reachable from this machine, so the base is made locally: Debian
bookworm by debootstrap from Debian's packages, imported as ``debian:bookworm-slim``. pip
inside the build reaches no index either (TLS to it is intercepted here), so it gets the
wheels of the project's dependencies from a loopback HTTP server (the Dockerfile's
PIP_FIND_LINKS/PIP_NO_INDEX build arguments). The real Dockerfile is then built with
buildah (vfs storage, chroot isolation).

Run: ``podman run`` needs a kernel and cgroups that let it start a container; where they
refuse, that test skips with the refusal, even under CI (containers then cannot work
there). The image is run in any case with buildah's chroot isolation: its own files, user,
entry point and environment, the host's network. The console and a static file answer,
the health check passes, a send-test is captured in the volume, and SIGTERM stops it with
status 0."""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import system
from tests.ports import free_port
from tests.serving import get, wait_until_up

pytestmark = [pytest.mark.container, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
BASE = "docker.io/library/debian:bookworm-slim"
IMAGE = "localhost/postwarden:test"
MIRROR = "http://deb.debian.org/debian"
STORAGE = ["--storage-driver", "vfs"]
#: seconds the image's serve may take to stop after SIGTERM (the Dockerfile's comment, compose's grace)
STOP_GRACE = 45


def tool(name: str) -> str:
    return system.command(name, package=name)


def run(argv: list[str], timeout: float = 1800, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]


def buildah(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return run([tool("buildah"), *STORAGE, *args], timeout=timeout)


@pytest.fixture(scope="module")
def base_image() -> str:
    """``debian:bookworm-slim`` made by debootstrap, unless it is there already."""
    if buildah("images", "-q", BASE).stdout.strip():
        return BASE
    with tempfile.TemporaryDirectory(prefix="postwarden-base-") as work:
        rootfs = Path(work) / "rootfs"
        made = run([tool("debootstrap"), "--variant=minbase", "bookworm", str(rootfs), MIRROR])
        assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
        archive = Path(work) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        imported = run([tool("podman"), *STORAGE, "import", str(archive), BASE])
        assert imported.returncode == 0, imported.stderr
    return BASE


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dependencies' wheels (and the build backend's), served on loopback."""
    directory = tmp_path_factory.mktemp("wheels")
    made = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "-w",
            str(directory),
            f"{ROOT}[postgres,ses]",
            "hatchling==1.29.0",
        ]
    )
    assert made.returncode == 0, made.stderr[-3000:]
    for built in directory.glob("postwarden-*.whl"):  # the image builds it from the source
        built.unlink()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture(scope="module")
def image(base_image: str, wheelhouse: str) -> str:
    built = buildah(
        "bud",
        "--isolation",
        "chroot",
        "--format",
        "docker",
        "--layers",
        "--build-arg",
        f"PIP_FIND_LINKS={wheelhouse}",
        "--build-arg",
        "PIP_NO_INDEX=1",
        "-t",
        IMAGE,
        str(ROOT),
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    return IMAGE


def test_the_image_is_configured_as_the_issue_asks(image: str) -> None:
    config = json.loads(buildah("inspect", "--type", "image", image).stdout)["Docker"]["config"]
    assert config["User"] == "postwarden"
    assert set(config["ExposedPorts"]) == {"8025/tcp", "2525/tcp"}
    assert set(config["Volumes"]) == {"/var/lib/postwarden"}
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    assert "POSTWARDEN_DATA_DIR=/var/lib/postwarden" in config["Env"]
    assert (config["Entrypoint"], config["Cmd"], config["StopSignal"]) == (
        ["postwarden"],
        ["serve"],
        "SIGTERM",
    )


def test_podman_runs_it(image: str, tmp_path: Path) -> None:
    """A real container, where the kernel lets podman start one."""
    conf = tmp_path / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")  # raising limits needs CAP_SYS_RESOURCE
    port = free_port()
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    podman = [tool("podman"), *STORAGE, "--cgroup-manager", "cgroupfs"]
    started = run(
        [*podman, "run", "-d", "--rm", "--cgroups", "disabled", "-p", f"127.0.0.1:{port}:8025", image],
        env=env,
        timeout=300,
    )
    if started.returncode != 0:
        pytest.skip(f"this kernel refuses containers: {started.stderr.strip().splitlines()[-1]}")
    container = started.stdout.strip()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and get(f"http://127.0.0.1:{port}/healthz")[0] != 200:
            time.sleep(0.5)
        assert get(f"http://127.0.0.1:{port}/login/")[0] == 200
        sent = run(
            [*podman, "exec", container, "postwarden", "send-test", "--to", "someone@example.com"], env=env
        )
        assert "captured as" in sent.stdout, sent.stdout + sent.stderr
    finally:
        stopped = run([*podman, "stop", "-t", str(STOP_GRACE), container], env=env, timeout=STOP_GRACE + 30)
    assert stopped.returncode == 0, stopped.stderr


def inside(container: str, *argv: str, env: tuple[str, ...] = ()) -> list[str]:
    """``argv`` in the image's files, as its user, with its environment (and ``env``)."""
    return [tool("buildah"), *STORAGE, "run", "--isolation", "chroot", *env, container, "--", *argv]


def serve_pid(parent: int) -> int | None:
    """The python process of ``postwarden serve`` under ``parent`` (buildah's chroot
    runtime starts it): what a container runtime sends SIGTERM to."""
    table: dict[int, tuple[int, list[bytes]]] = {}
    for path in Path("/proc").iterdir():
        try:
            ppid = int((path / "stat").read_text().rsplit(")", 1)[1].split()[1])
            table[int(path.name)] = (ppid, (path / "cmdline").read_bytes().split(b"\0"))
        except (OSError, IndexError, ValueError):
            continue
    family = {parent}
    for _ in range(6):  # buildah, its chroot runtime, its exec, then serve
        family |= {pid for pid, (ppid, _) in table.items() if ppid in family}
    serving = [
        pid
        for pid in sorted(family)
        if pid in table and table[pid][1][-2:] == [b"serve", b""] and b"python" in table[pid][1][0]
    ]
    return serving[0] if serving else None


def test_the_image_serves_captures_and_stops_on_sigterm(image: str, tmp_path: Path) -> None:
    container = buildah("from", image).stdout.strip()
    assert container
    port, relay = free_port(), free_port()
    env = ("--env", f"POSTWARDEN_PORT={port}", "--env", f"POSTWARDEN_SMTP_LISTEN=127.0.0.1:{relay}")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            inside(container, "postwarden", "serve", env=env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process, log)
        assert "data:            /var/lib/postwarden" in log.read_text()
        assert get(url + "/login/")[0] == 200
        status, css = get(url + "/static/console/console.css")
        assert (status, css) == (
            200,
            (ROOT / "src/postwarden/console/static/console/console.css").read_bytes(),
        )
        who = run(inside(container, "sh", "-c", "id -un; cat /etc/debian_version")).stdout.split()
        assert who[0] == "postwarden"
        assert who[1].startswith("12.")
        config = json.loads(buildah("inspect", "--type", "image", image).stdout)["Docker"]["config"]
        check = run(inside(container, *config["Healthcheck"]["Test"][1:], env=env))
        assert check.returncode == 0, check.stderr
        sent = run(inside(container, "postwarden", "send-test", "--to", "a@example.com"))
        assert "captured as" in sent.stdout, sent.stdout + sent.stderr
        pid = serve_pid(process.pid)
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        assert process.wait(timeout=STOP_GRACE) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        buildah("rm", container)
