"""The web process, the worker and the relay settle the garbage collector once start-up is over
(postwarden/collector.py): the start-up's objects frozen out of its sight, its thresholds
raised, and garbage still collected. Each check runs in a process of its own, as the
commands do: freezing this test process would change every test after it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from postwarden import collector
from tests.processes import python, service_env


def _in_a_process(code: str, data: Path) -> dict[str, object]:
    """``code`` run as a command runs: the service's own settings, a data directory of its own."""
    out = python(textwrap.dedent(code), service_env(data), timeout=120)
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_the_worker_freezes_its_start_up_and_still_collects_garbage(tmp_path: Path) -> None:
    seen = _in_a_process(
        """
        import gc, json, weakref
        import django
        django.setup()
        from postwarden.outbox.worker.options import prepare_process
        before = gc.get_freeze_count()
        prepare_process()
        frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()

        class Node:
            pass

        collected = []
        for _ in range(3):
            a, b = Node(), Node()
            a.other, b.other = b, a  # a cycle: only the collector frees it
            weakref.finalize(a, collected.append, 1)
            del a, b
            junk = [[i] for i in range(200_000)]  # allocations past the raised threshold
            del junk
        gc.collect()
        print(json.dumps({"before": before, "frozen": frozen, "thresholds": thresholds,
                          "collected": len(collected)}))
        """,
        tmp_path,
    )
    assert seen["before"] == 0
    # Django, the outbox and the transports: tens of thousands of start-up objects
    assert int(str(seen["frozen"])) > 20_000, seen
    assert seen["thresholds"] == list(collector.THRESHOLDS)
    assert seen["collected"] == 3


def test_the_web_process_settles_the_collector_before_it_serves(tmp_path: Path) -> None:
    seen = _in_a_process(
        """
        import gc, json
        import waitress
        from postwarden.cli import web

        def serve(app, **options):  # the process stops here instead of listening
            print(json.dumps({"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}))

        waitress.serve = serve
        web.run(["--port", "1"])
        """,
        tmp_path,
    )
    assert int(str(seen["frozen"])) > 20_000, seen
    assert seen["thresholds"] == list(collector.THRESHOLDS)


def test_the_relay_settles_the_collector_before_it_listens(tmp_path: Path) -> None:
    seen = _in_a_process(
        """
        import asyncio, gc, json
        from postwarden.cli import relay

        def run(main):  # the process stops here instead of listening
            main.close()
            print(json.dumps({"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()}))
            return 0

        asyncio.run = run
        relay.run(["--listen", "127.0.0.1:1"])
        """,
        tmp_path,
    )
    assert int(str(seen["frozen"])) > 20_000, seen
    assert seen["thresholds"] == list(collector.THRESHOLDS)
