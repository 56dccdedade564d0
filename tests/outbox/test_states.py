"""The recipient state machine (outbox/states.py): the whole table walked against the
database, and the source checked for writes of ``Recipient.state`` that bypass it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from postwarden.outbox import states
from postwarden.outbox.models import Recipient, State
from postwarden.outbox.states import NEW, TABLE, IllegalMove, Move
from tests import factories

SRC = Path(__file__).resolve().parents[2] / "src" / "postwarden"

PAIRS = [(state, move) for move in Move for state in (NEW, *State)]


def _recipient(state: State) -> Recipient:
    return factories.recipient(state=state, reason="before")


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "move"), PAIRS, ids=[f"{s or 'new'}-{m}" for s, m in PAIRS])
def test_every_pair_of_the_table_moves_exactly_when_the_table_allows_it(
    current: State | None, move: Move
) -> None:
    sources_, landing = TABLE[move]
    if current is None:
        if current in sources_:
            assert states.next_state(NEW, move) is landing
            assert states.born(landing) is landing
        else:
            with pytest.raises(IllegalMove):
                states.next_state(NEW, move)
        return
    row = _recipient(current)
    if sources_ == {NEW}:
        with pytest.raises(IllegalMove, match="only starts a new recipient"):
            states.apply([row.pk], move, reason=f"by {move}")
        moved = 0
    else:
        moved = states.apply([row.pk], move, reason=f"by {move}")
    row.refresh_from_db()
    if current in sources_:
        assert states.next_state(current, move) is landing
        assert (moved, row.state, row.reason) == (1, landing, f"by {move}")
    else:
        with pytest.raises(IllegalMove, match=f"{move.value} is not a move for a {current} recipient"):
            states.next_state(current, move)
        assert (moved, row.state, row.reason) == (0, current, "before")


@pytest.mark.django_db
def test_a_move_that_only_starts_a_recipient_cannot_be_applied_to_a_stored_one() -> None:
    row = _recipient(State.QUEUED)
    with pytest.raises(IllegalMove, match="only starts a new recipient"):
        states.apply([row.pk], Move.ENQUEUED)
    with pytest.raises(TypeError, match="comes from the move"):
        states.apply([row.pk], Move.CANCELLED, state=State.SENT)
    with pytest.raises(IllegalMove, match="cannot start as 'sent'"):
        states.born(State.SENT)


@pytest.mark.django_db
def test_apply_moves_only_the_rows_still_in_a_source_state_and_sets_reasons_per_row() -> None:
    waiting, held, gone = _recipient(State.QUEUED), _recipient(State.HELD), _recipient(State.SENDING)
    moved = states.apply(
        [waiting.pk, held.pk, gone.pk], Move.CANCELLED, reason={waiting.pk: "one", held.pk: "two"}
    )
    assert moved == 2
    found = dict(Recipient.objects.values_list("pk", "state"))
    assert found == {waiting.pk: State.CANCELLED, held.pk: State.CANCELLED, gone.pk: State.SENDING}
    assert list(Recipient.objects.order_by("pk").values_list("reason", flat=True)) == ["one", "two", "before"]


def test_provider_moves_follow_the_ranks_and_start_only_where_a_provider_can_know() -> None:
    for move in (Move.DELIVERED, Move.BOUNCED, Move.COMPLAINED, Move.REJECTED):
        froms, landing = TABLE[move]
        assert froms <= set(states.RANK), move
        assert all(states.RANK[landing] > states.RANK[s] for s in froms if s is not None), move  # type: ignore[index]
    assert TABLE[Move.REJECTED].sources == {State.SENDING, State.SENT}
    # a row a worker holds is sending, or was moved by such an event before the worker reported
    assert set(states.IN_FLIGHT) == {
        State.SENDING,
        State.DELIVERED,
        State.BOUNCED,
        State.COMPLAINED,
        State.FAILED,
    }


def test_the_worker_results_and_the_policy_decisions_name_moves_of_the_table() -> None:
    # the worker's batched UPDATEs compare with "state = sending": every result move has that one source
    assert {states.source_of(m) for m in states.RESULTS.values()} == {State.SENDING}
    assert {states.target(m) for m in states.RESULTS.values()} == set(states.RESULTS)
    assert {states.next_state(NEW, m) for m in states.DECISIONS.values()} == set(states.DECISIONS)
    assert states.sql_in(Move.CLAIMED) == "state IN ('queued', 'deferred')"  # rcpt_pending's condition


# --- nothing outside outbox/states.py writes Recipient.state --------------------------------------

#: modules that write the state column themselves, and why that is still the table's state
ALLOWED: dict[str, str] = {
    "outbox/worker/claim.py": "the claim's conditional UPDATE; its states from states.target/sql_in",
    "outbox/worker/record.py": "batched result writes; states from states.RESULTS via source_of/target",
    "outbox/worker/leases.py": "batched reap and release; states from states.source_of/target",
    "outbox/store.py": "the enqueue's bulk INSERT; each new row's state is states.born(policy decision)",
}

#: SQL that sets the state column: "SET …, state = …" before any WHERE
_SETS_STATE = re.compile(r"\bset\b(?:(?!\bwhere\b).)*?\bstate\s*=", re.IGNORECASE | re.DOTALL)
_WRITE_CALLS = {"update", "create", "get_or_create", "update_or_create", "bulk_create", "bulk_update"}


def _string_parts(node: ast.AST) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_string_parts(v) for v in node.values)
    return ""


def writes_of_state(tree: ast.AST) -> list[int]:
    """Lines that write a recipient's state: ``.update(state=…)``/``create(state=…)``, an
    assignment to ``….state``, a ``bulk_sql.update``/``bulk_sql.insert`` of ``Recipient`` whose columns
    name ``state`` (as strings, or as the ``_fields`` of a row class with a ``state``
    field), or SQL text that sets it."""
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    tuples = {
        t.id: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            if (name in _WRITE_CALLS or name == "Recipient") and any(k.arg == "state" for k in node.keywords):
                found.append(node.lineno)
            first = node.args[0] if node.args else None
            if name in ("update", "insert") and isinstance(first, ast.Name) and first.id == "Recipient":
                columns = node.args[1] if len(node.args) > 1 else None
                columns = tuples.get(columns.id, columns) if isinstance(columns, ast.Name) else columns
                if columns is not None and _names_state(columns, classes):
                    found.append(node.lineno)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "state" for t in targets):
                found.append(node.lineno)
        if _SETS_STATE.search(_string_parts(node)):
            found.append(node.lineno)
    return sorted(set(found))


def _names_state(columns: ast.AST, classes: dict[str, ast.ClassDef]) -> bool:
    """Whether a column list names ``state``: a string in it, or ``Row._fields`` of a row
    class (a NamedTuple) declaring a ``state`` field."""
    for node in ast.walk(columns):
        if _string_parts(node) == "state":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "_fields" and isinstance(node.value, ast.Name):
            row = classes.get(node.value.id)
            if row is not None and any(
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and field.target.id == "state"
                for field in row.body
            ):
                return True
    return False


def test_no_module_but_the_state_machine_writes_recipient_state() -> None:
    offenders, used = [], set()
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if "/migrations/" in relative or relative == "outbox/states.py":
            continue
        lines = writes_of_state(ast.parse(path.read_text(), relative))
        if not lines:
            continue
        if relative in ALLOWED:
            used.add(relative)
            assert "states." in path.read_text(), (
                f"{relative} is allowed only while it takes its states from the table"
            )
            continue
        offenders.append(f"{relative}:{','.join(map(str, lines))}")
    assert offenders == [], "write Recipient.state through postwarden.outbox.states.apply"
    assert used == set(ALLOWED), "an allowance nobody needs any more: remove it"


@pytest.mark.parametrize(
    "source",
    [
        "Recipient.objects.filter(pk=1).update(state='sent')",
        "row.state = State.SENT",
        "bulk_sql.update(Recipient, ('state', 'reason'), ('id',), rows)",
        "COLUMNS = ('reason', 'state')\nbulk.insert(Recipient, COLUMNS, rows)",
        "sql = f'UPDATE {table} SET reason = %s, state = %s WHERE id = %s'",
        "Recipient.objects.create(message=m, address='a@b', state='queued')",
        "class Row(NamedTuple):\n    pk: int\n    state: str\nbulk.insert(Recipient, Row._fields, rows)",
        "class End(NamedTuple):\n    state: str\n    id: int\n"
        "SET = End._fields[:-1]\nbulk.update(Recipient, SET, ('id',), rows)",
    ],
)
def test_the_check_sees_each_way_of_writing_the_state(source: str) -> None:
    assert writes_of_state(ast.parse(source)) != []
