"""The life of an assignment, as plain functions over a real database (no Prefect)."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.store.db import open_database, session_scope, transaction
from models.errors import DuplicateDirective, IllegalTransition, InputError
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.lifecycle.queries import get_directive, status_rows
from models.lifecycle.status import check_transition, standing
from models.store.tables import Event
from models.calendar.timerules import TimeRules
from models.lifecycle.updates import extend_assignment, record_update
from models.calendar.workdays import WorkCalendar
from tests.conftest import SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
LAUNCH = datetime(2020, 11, 30, 9, 0, tzinfo=TZ)


def at(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=TZ)


@pytest.fixture
def seeded(database):
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=LAUNCH, rules=RULES, actor="tester")
    return "2550-stttt-bctt"


def rows(slug, now):
    with transaction() as session:
        return {r.key: r for r in status_rows(session, directive=get_directive(session, slug=slug), now=now, rules=RULES)}


@pytest.mark.parametrize(("current", "new"), [
    ("assigned", "acknowledged"), ("assigned", "in_progress"), ("assigned", "done"),
    ("acknowledged", "in_progress"), ("in_progress", "in_progress"), ("in_progress", "done"),
    ("acknowledged", "cancelled"),
])
def test_allowed_moves(current, new):
    check_transition(current, new)


@pytest.mark.parametrize(("current", "new"), [
    ("done", "in_progress"), ("in_progress", "acknowledged"), ("cancelled", "done"),
    ("acknowledged", "acknowledged"), ("assigned", "finished"), ("done", "done"),
])
def test_refused_moves(current, new):
    with pytest.raises(IllegalTransition):
        check_transition(current, new)


def test_standing_flags_and_colours():
    cal = WorkCalendar()
    due = date(2020, 12, 31)
    assert standing(status="assigned", due=due, done_on=None, today=date(2021, 1, 5), calendar=cal).overdue_working_days == 2
    assert standing(status="assigned", due=due, done_on=None, today=date(2021, 1, 5), calendar=cal).colour == "red"
    assert standing(status="in_progress", due=due, done_on=None, today=date(2020, 12, 28), calendar=cal).flag == "due_soon"
    assert standing(status="in_progress", due=due, done_on=None, today=date(2020, 12, 1), calendar=cal).colour == "blue"
    assert standing(status="assigned", due=due, done_on=None, today=date(2020, 12, 1), calendar=cal).colour == "grey"
    assert standing(status="done", due=due, done_on=date(2021, 1, 4), today=date(2021, 2, 1), calendar=cal).flag == "done_late"
    assert standing(status="done", due=due, done_on=due, today=date(2021, 2, 1), calendar=cal).colour == "green"


def test_launch_writes_five_assignments_with_events(seeded):
    now = at(2021, 1, 5)
    by_key = rows(seeded, now)
    assert len(by_key) == 5
    assert by_key["permit-review"].overdue_working_days == 2
    assert by_key["annual-plan"].overdue_working_days == -18 and by_key["annual-plan"].milestone
    with transaction() as session:
        kinds = [e.kind for e in session.exec(select(Event)).all()]
    assert kinds.count("launched") == 1 and kinds.count("created") == 5


def test_launch_twice_is_refused_and_writes_nothing(seeded):
    with pytest.raises(DuplicateDirective):
        with transaction() as session:
            launch_directive(session, loaded=load_directive_file(SEED), now=LAUNCH, rules=RULES, actor="tester")
    with transaction() as session:
        assert len(session.exec(select(Event).where(Event.kind == "launched")).all()) == 1


def test_record_done_keeps_evidence(seeded):
    with transaction() as session:
        record_update(session, slug=seeded, key="permit-review", status="done", now=at(2020, 12, 28),
                      rules=RULES, actor="sxd", evidence="15/SXD-QLXD", evidence_on=date(2020, 12, 25))
    row = rows(seeded, at(2021, 1, 5))["permit-review"]
    assert (row.status, row.evidence, row.evidence_on, row.done_on) == ("done", "15/SXD-QLXD", date(2020, 12, 25), date(2020, 12, 28))
    assert row.flag == "done_on_time" and row.overdue_working_days is None


def test_milestone_closes_directive_and_cancels_the_rest(seeded):
    with transaction() as session:
        result = record_update(session, slug=seeded, key="annual-plan", status="done", now=at(2021, 1, 28),
                               rules=RULES, actor="stttt", evidence="01/KH-STTTT")
    assert result.closed
    assert result.open_dependencies == ["permit-review", "land-use-conversion", "industrial-park-access"]
    by_key = rows(seeded, at(2021, 2, 1))
    assert {k: r.status for k, r in by_key.items()} == {
        "network-transition": "cancelled", "permit-review": "cancelled", "land-use-conversion": "cancelled",
        "industrial-park-access": "cancelled", "annual-plan": "done"}
    with transaction() as session:
        assert get_directive(session, slug=seeded).status == "closed"
        cancelled = session.exec(select(Event).where(Event.kind == "status")).all()
        assert all("văn bản kết thúc" in e.payload["reason"] for e in cancelled if e.payload["to"] == "cancelled")
    with pytest.raises(InputError), transaction() as session:
        record_update(session, slug=seeded, key="permit-review", status="done", now=at(2021, 2, 2), rules=RULES, actor="x")


def test_extension_moves_due_and_keeps_state(seeded):
    with transaction() as session:
        record_update(session, slug=seeded, key="land-use-conversion", status="in_progress", now=at(2020, 12, 20), rules=RULES, actor="stnmt")
        result = extend_assignment(session, slug=seeded, key="land-use-conversion", until=date(2021, 1, 16),
                                   reason="Chờ ý kiến Bộ", now=at(2020, 12, 29), rules=RULES, actor="coordinator")
    assert result.due == date(2021, 1, 18)  # 16/01 is a Saturday
    row = rows(seeded, at(2021, 1, 5))["land-use-conversion"]
    assert row.status == "in_progress" and row.due == date(2021, 1, 18) and row.overdue_working_days < 0


def test_extension_must_move_later(seeded):
    with pytest.raises(InputError), transaction() as session:
        extend_assignment(session, slug=seeded, key="permit-review", until=date(2020, 12, 20), reason="x",
                          now=at(2020, 12, 1), rules=RULES, actor="c")


def test_events_are_append_only(seeded):
    with pytest.raises(RuntimeError, match="append-only"):
        with session_scope(open_database(get_url())) as session:
            event = session.exec(select(Event)).first()
            event.actor = "someone else"
            session.add(event)
    with transaction() as session:
        assert session.exec(select(Event)).first().actor == "tester"


def get_url():
    from models.settings import get_settings

    return get_settings().database_url


def test_naive_instants_are_refused(database):
    from models.store.tables import Registry

    with pytest.raises(Exception, match="timezone-aware"):
        with transaction() as session:
            session.add(Registry(name="x", title="x", loaded_at=datetime(2020, 1, 1)))


def test_write_functions_refuse_control_characters_naming_the_field(seeded):
    """The rule sits in the models, so the reply pages, the CLI and the Prefect forms all meet it (NUL on both databases)."""
    from models.lifecycle.extensions import decide_extension, request_extension

    def count():
        with transaction() as session:
            return len(session.exec(select(Event)).all())

    before = count()
    writes = [
        ("(evidence)", lambda s: record_update(s, slug=seeded, key="permit-review", status="done", now=at(2020, 12, 28),
                                               rules=RULES, actor="sxd", evidence="15/SXD\x00-QLXD")),
        ("(evidence)", lambda s: record_update(s, slug=seeded, key="permit-review", status="done", now=at(2020, 12, 28),
                                               rules=RULES, actor="sxd", evidence="15/SXD\u200d-QLXD")),
        ("(note)", lambda s: record_update(s, slug=seeded, key="permit-review", status="in_progress", now=at(2020, 12, 28),
                                           rules=RULES, actor="sxd", note="đã họp\x00")),
        ("(note)", lambda s: record_update(s, slug=seeded, key="permit-review", status="in_progress", now=at(2020, 12, 28),
                                           rules=RULES, actor="sxd", note="\u202eđã họp")),
        ("(reason)", lambda s: request_extension(s, slug=seeded, key="land-use-conversion", agency="stnmt",
                                                 until=date(2021, 1, 15), reason="chờ\x00", now=at(2020, 12, 20),
                                                 rules=RULES)),
        ("(reason)", lambda s: decide_extension(s, slug=seeded, key="land-use-conversion", approve=True,
                                                until=date(2021, 1, 15), reason="đồng ý\x9b", now=at(2020, 12, 20),
                                                rules=RULES, actor="coordinator")),
        ("(reason)", lambda s: extend_assignment(s, slug=seeded, key="land-use-conversion", until=date(2021, 1, 15),
                                                 reason="\x07", now=at(2020, 12, 20), rules=RULES, actor="coordinator")),
    ]
    for field, write in writes:
        with pytest.raises(InputError, match=re.escape(field) + " chứa ký tự"), transaction() as session:
            write(session)
    assert count() == before
    with transaction() as session:  # tab and newline are fine in a note
        record_update(session, slug=seeded, key="permit-review", status="in_progress", now=at(2020, 12, 28),
                      rules=RULES, actor="sxd", note="đã họp:\n\t- doanh nghiệp")


def test_a_report_document_dated_before_the_directive_is_refused(seeded):
    with pytest.raises(InputError, match=r"không thể trước ngày ban hành văn bản 2550/STTTT-BCTT \(30/11/2020\)"):
        with transaction() as session:
            record_update(session, slug=seeded, key="permit-review", status="done", now=at(2020, 12, 28),
                          rules=RULES, actor="sxd", evidence="15/SXD-QLXD", evidence_on=date(2020, 11, 29))
    assert rows(seeded, at(2020, 12, 28))["permit-review"].status == "assigned"


def test_migration_0002_keeps_the_oldest_pending_request_and_adds_the_index(database):
    """A database where the race already happened is upgraded; afterwards the database refuses a second request."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import SQLModel

    from models.store import migrate
    from models.store.db import get_engine
    from models.store.tables import Assignment, ExtensionRequest


    engine = get_engine(database)
    migrate.upgrade(engine)  # launched with today's tables, then taken back to the schema before the index
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=LAUNCH, rules=RULES, actor="tester")
        land = session.exec(select(Assignment).where(Assignment.key == "land-use-conversion")).one()
    migrate.downgrade(engine, "fcf1885f055d")
    with session_scope(engine) as session:
        for n in range(3):
            session.add(ExtensionRequest(assignment_id=land.id, agency_code="stnmt", requested_at=at(2020, 12, 20 + n),
                                         until=date(2021, 1, 15), reason=f"lần {n}"))
    assert migrate.upgrade(engine) == ("fcf1885f055d", migrate.head())
    with session_scope(engine) as session:
        states = [(r.reason, r.state) for r in session.exec(select(ExtensionRequest).order_by(ExtensionRequest.id))]
    assert states == [("lần 0", "pending"), ("lần 1", "withdrawn"), ("lần 2", "withdrawn")]
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(ExtensionRequest(assignment_id=land.id, agency_code="stnmt", requested_at=at(2020, 12, 24),
                                     until=date(2021, 1, 15), reason="lần 3"))
    with engine.connect() as connection:  # the tables as declared and the migrated schema agree
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert not [d for d in differences if "apscheduler" not in str(d)], differences
