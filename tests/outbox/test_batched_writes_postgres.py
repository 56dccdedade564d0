"""The worker's writes on PostgreSQL, in a process of its own against a throwaway cluster
(tests/pg.py): the claim writes the attempts "sending" in its own statement; a batch of
results is one UPDATE per table whatever its size (the rows as arrays through
``unnest``), stores every text exactly as a row-at-a-time UPDATE did (quotes, braces,
backslashes, commas, the word NULL, other scripts, empty strings, NULLs), changes only
the rows still as the worker claimed them, refuses a value too long for its column
rather than cutting it; and the claim finds the rows it takes through the primary key
even when every row of the table is pending."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg import Cluster
from tests.processes import python, service_env

SCRIPT = r"""
from datetime import timedelta
from postwarden.cli.django_setup import setup
setup("worker", create=True)
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import DataError, connection, transaction
from django.utils import timezone
from postwarden.core.smtp.reply import Reply
from postwarden.outbox import bulk_sql
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.retry import RetryPolicy
from postwarden.outbox.submission import Outgoing, enqueue_many
from postwarden.outbox.worker import attempts, claim, record
from postwarden.transports.base import Outcome, RecipientResult

assert connection.vendor == "postgresql"
with transaction.atomic():
    enqueue_many([Outgoing(to=[f"user{i}@example.net"], subject=f"s{i}", text="hi") for i in range(60)])
with connection.cursor() as cursor:
    # ten thousand more pending recipients, due tomorrow, and statistics that know them
    cursor.execute(
        "INSERT INTO outbox_recipient (message_id, address, kind, state, reason, attempts, attempts_base, "
        "queued_at, next_attempt_at, claimed_by, transport, provider_message_id, last_enhanced, last_reply, "
        "finding, updated_at) SELECT message_id, 'later' || g || '@example.net', kind, state, reason, 0, 0, "
        "queued_at, now() + interval '1 day', '', '', '', '', '', '', now() "
        "FROM outbox_recipient, generate_series(1, 10000 / 60) AS g"
    )
    cursor.execute("ANALYZE outbox_recipient")

now = timezone.now()
# the claim's plan: the due ids through rcpt_pending, the rows through the primary key
sql = claim._claim_sql("postgresql", False)
adapt = bulk_sql.datetime_adapter()
with connection.cursor() as cursor:
    params = [adapt(now), "w1", "smtp", adapt(now), adapt(now), 200, adapt(now), "smtp", "w1", False]
    cursor.execute("EXPLAIN " + sql, params)
    plan = "\n".join(row[0] for row in cursor.fetchall())
assert "Seq Scan" not in plan and "outbox_recipient_pkey" in plan and "rcpt_pending" in plan, plan

claim_statements = []
def watch_claim(execute, sql, params, many, context):
    claim_statements.append(sql.split()[0])
    return execute(sql, params, many, context)
with connection.execute_wrapper(watch_claim):
    jobs = claim.claim("w1", "smtp", limit=60, lease=timedelta(minutes=5), cap=1, with_parts=False,
                       now=now, redact=str, reap=False)
claimed = [c for job in jobs for c in job.recipients]
assert len(claimed) == 60, len(claimed)
# the attempts "sending" came with the claim's own statement: one round trip, no INSERT after it
assert claim_statements[0] == "WITH" and "INSERT" not in claim_statements, claim_statements
started = {(a.recipient_id, a.number): a for a in Attempt.objects.filter(outcome="sending")}
assert sorted(started) == sorted((c.pk, c.attempt) for c in claimed), sorted(started)[:3]
assert {(a.worker, a.transport, a.started_at) for a in started.values()} == {("w1", "smtp", now)}

TEXTS = ["it's \"quoted\"", "{braces},commas", "back\\slash", "NULL", "", "δοκιμή 成功 ✓", "two\nlines",
         "'; DROP TABLE outbox_recipient; --"]
policy = RetryPolicy()
done, expected = [], {}
for i, c in enumerate(claimed[:50]):
    text = TEXTS[i % len(TEXTS)]
    if i % 3 == 0:
        result = RecipientResult(c.address, Outcome.SENT, stage="data", reply=Reply(250, "2.0.0", text),
                                 queue_id=text, provider_message_id=text, duration_ms=i)
    elif i % 3 == 1:
        result = RecipientResult(c.address, Outcome.FAILED, stage="rcpt", reply=Reply(451, "4.3.0", text))
    else:
        result = RecipientResult(c.address, Outcome.FAILED, stage="connect", detail=text)
    d = attempts.conclude(c, result, server=("127.0.0.1", 25), policy=policy, now=now, seconds=0.01)
    done.append(d)
    expected[c.pk] = d

# one row moved by someone else while it was sent: its result must not undo that
moved = claimed[0].pk
Recipient.objects.filter(pk=moved).update(state="bounced")

statements = []
def watch(execute, sql, params, many, context):
    statements.append((sql.split()[0], many, "unnest(" in sql))
    return execute(sql, params, many, context)
with connection.execute_wrapper(watch):
    record.record(done, "w1", redact=str)
updates = [s for s in statements if s[0] == "UPDATE"]
assert updates[:2] == [("UPDATE", False, True), ("UPDATE", False, True)], statements

for pk, d in expected.items():
    row = Recipient.objects.get(pk=pk)
    attempt = Attempt.objects.get(recipient_id=pk, number=d.claimed.attempt)
    reply = d.result.reply
    words = str(reply) if reply is not None else d.result.detail
    assert attempt.outcome == d.verdict.state, (attempt.outcome, d.verdict.state)
    code = reply.code if reply is not None else None
    assert (attempt.reply, attempt.code, attempt.stage) == (words, code, d.result.stage)
    assert attempt.queue_id == (d.result.queue_id or ""), attempt.queue_id
    assert attempt.retry_at == d.verdict.retry_at and attempt.finished_at == now
    assert attempt.duration_ms == d.result.duration_ms
    if pk == moved:
        assert (row.state, row.claimed_by, row.last_reply) == ("bounced", "", ""), (row.state, row.claimed_by)
        continue
    assert row.state == d.verdict.state and row.last_reply == words and row.claimed_by == "", row.state
    assert row.provider_message_id == (d.result.provider_message_id or "")
    assert row.next_attempt_at == d.verdict.retry_at and row.lease_until is None
    assert row.sent_at == (now if d.verdict.state == "sent" else None)
untouched = Recipient.objects.filter(pk__in=[c.pk for c in claimed[50:]])
assert {r.state for r in untouched} == {"sending"}, {r.state for r in untouched}

# too long for its column (varchar(16)): refused, as a row-at-a-time UPDATE refused it
rest = claimed[50:]
try:
    with transaction.atomic():
        bulk_sql.update(Recipient, ("last_enhanced",), ("id",), [("x" * 17, c.pk) for c in rest])
except DataError:
    pass
else:
    raise AssertionError("a value too long for its column was stored")
assert {r.last_enhanced for r in untouched} == {""}
# a key that matches no row changes nothing and says so
assert bulk_sql.update(Recipient, ("reason",), ("id", "attempts"), [("r", c.pk, 99) for c in rest]) == 0
assert bulk_sql.update(Recipient, ("reason", "lease_until"), ("id",), [("r", None, c.pk) for c in rest]) == 10
print("ok")
"""


@pytest.mark.postgres
def test_result_writes_are_one_statement_a_table_and_store_every_text(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    env = service_env(
        tmp_path / "data",
        DATABASE_URL=pg_cluster.createdb("batched_writes"),
        POSTWARDEN_SECRET_KEY="batched-writes-test-secret-key-0123456789abcdef",
        MAIL_FROM="app@example.com",
    )
    assert python(SCRIPT, env).strip().endswith("ok")
