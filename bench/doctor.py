"""Wall time of ``postwarden doctor`` on a healthy local setup, as a person runs it.

    python -m bench.doctor [--runs 5] [--json]

Starts, on loopback: an SMTP server with STARTTLS (a throwaway trustme CA, trusted
through SSL_CERT_FILE) and AUTH, and a DNS server with a healthy zone for the From
domain (SPF for the server's address, the DKIM key in use, DMARC p=reject, an MX).
Then runs ``postwarden doctor`` as a subprocess ``--runs`` times (at least 3) with
every stage (no database: queue checks are skipped) and reports the median wall time,
process start-up and imports included. Each run must exit 0 (all clear). Target: well
under 1000 ms (issue #4). Every loop is bounded by count and each run by a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme
from tests.core.doctor.helpers import dkim_key, healthy_zone
from tests.dnsd import running_dns_server
from tests.smtpd import SmtpdOptions, SmtpServer

RUN_TIMEOUT = 30.0
PASSWORD = "bench-password-0123456789"  # noqa: S105 - a throwaway local server's


def doctor_command() -> list[str]:
    script = Path(sys.executable).with_name("postwarden")
    return [str(script)] if script.exists() else [sys.executable, "-m", "postwarden"]


def run_once(env: dict[str, str], cwd: Path) -> tuple[float, int, dict[str, object]]:
    started = time.perf_counter()
    done = subprocess.run(
        [*doctor_command(), "doctor", "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    elapsed = (time.perf_counter() - started) * 1000
    report = json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}
    return elapsed, done.returncode, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = max(3, min(args.runs, 50))
    workdir = Path(tempfile.mkdtemp(prefix="postwarden-bench-doctor-"))
    ca = trustme.CA()
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = SmtpServer(
        SmtpdOptions(
            tls="starttls", cert=ca.issue_cert("mail.example.com"), users={"ops": PASSWORD}, size_limit=None
        )
    ).start()
    try:
        with running_dns_server(healthy_zone()) as dns:
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DKIM_"))
            }
            env.pop("DJANGO_SETTINGS_MODULE", None)
            env.update(
                SMTP_HOST="mail.example.com",
                SMTP_PORT=str(server.port),
                SMTP_SECURITY="starttls",
                SMTP_USER="ops",
                SMTP_PASSWORD=PASSWORD,
                SMTP_EHLO_NAME="client.example.com",
                MAIL_FROM="ops@example.com",
                TEST_EMAIL="dest@example.com",
                APP_URL="https://app.example.com",
                DKIM_SELECTOR="pw1",
                DKIM_PRIVATE_KEY=dkim_key().reveal(),
                POSTWARDEN_DNS_SERVER=dns.address,
                POSTWARDEN_DATA_DIR=str(workdir / "data"),
                SSL_CERT_FILE=str(ca_file),
            )
            results = [run_once(env, workdir) for _ in range(runs)]
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    times = [ms for ms, _, _ in results]
    failed = [(status, report) for _, status, report in results if status != 0]
    summary = {
        "runs": runs,
        "median_ms": round(statistics.median(times)),
        "min_ms": round(min(times)),
        "max_ms": round(max(times)),
        "doctor_reported_ms": [r.get("duration_ms") for _, _, r in results],
        "all_clear": not failed,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"postwarden doctor, healthy local setup, {runs} runs: median {summary['median_ms']} ms "
            f"(min {summary['min_ms']}, max {summary['max_ms']}); the doctor's own duration_ms: "
            f"{summary['doctor_reported_ms']}; all clear: {summary['all_clear']}"
        )
    if failed:
        print(json.dumps(failed[0][1], indent=2)[:4000], file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
