"""A week with a weekend and a public holiday (Monday 8 May 2028, Victoire 1945), driven tick by tick:
every reminder's time is checked, so are the M+3 openings and the leads' digests."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from flows.case import ActionKind, State
from flows.commands import CompleteAction
from flows.engine import handle
from service.reminders import (
    ACTION,
    ACTION_OVERDUE,
    CALLBACK,
    CALLBACK_RETURN,
    CANCELLED,
    FIRED,
    MORNING,
    PENDING,
    sync_reminders,
)
from service.ticker import Ticker
from service.unit_of_work import unit_of_work
from storage.tables import M3Case
from tests.scheduler.clock import paris, rows, run
from tests.scheduler.conftest import OWNER

FRI, SAT, SUN, MON, TUE, WED, THU = 5, 6, 7, 8, 9, 10, 11


def may(day: int) -> date:
    return date(2028, 5, day)


def _complete(engine, settings, case_id: int, action_id: int) -> None:
    """What the "Marquer comme fait" listener does: the command and the reminders' sync in one unit of work."""
    with unit_of_work(engine, case_id=case_id, actor=OWNER) as uow:
        uow.record(handle(uow.case, CompleteAction(action_id), actor=OWNER, now=uow.now, rules=settings.rules()))
        sync_reminders(uow.session, uow.case, uow.now, settings)


def _opened_at(engine, case_ids: list[int]) -> dict[int, object]:
    with Session(engine) as session:
        return dict(session.exec(select(M3Case.id, M3Case.opened_at).where(M3Case.id.in_(case_ids))).all())


def test_week_with_weekend_and_holiday_fires_each_reminder_at_its_time(engine, settings, cases, notifier):
    start = paris(FRI, 6)
    cb_sat = cases.callback(paris(SAT, 11), now=start, client_requested=True)
    cb_holiday = cases.callback(paris(MON, 19), now=start, client_requested=True)
    cb_tue = cases.callback(paris(TUE, 10, 30), now=start)
    plan, (a_fri, a_sat, a_mon, a_tue) = cases.with_actions(
        [(ActionKind.relance, may(FRI)), (ActionKind.devis, may(SAT)), (ActionKind.rdv, may(MON)),
         (ActionKind.relance, may(TUE))],
        now=start,
    )
    m3 = {day: cases.unopened(may(day)) for day in (FRI, SAT, SUN, MON, TUE, WED, THU)}
    ticker = Ticker(engine, notifier, settings, worker="w1")

    run(ticker, start, paris(WED, 19), events={paris(TUE, 12): lambda: _complete(engine, settings, plan, a_tue)})

    fired = {(r.kind, r.case_id, r.action_id, r.fired_at) for r in rows(engine, FIRED)}
    assert fired == {
        # Booked callbacks: a weekend, a holiday evening, a weekday; the agent booked them, they fire on time.
        (CALLBACK, cb_sat, None, paris(SAT, 10, 55)),
        (CALLBACK_RETURN, cb_sat, None, paris(SAT, 11)),
        (CALLBACK, cb_holiday, None, paris(MON, 18, 55)),
        (CALLBACK_RETURN, cb_holiday, None, paris(MON, 19)),
        (CALLBACK, cb_tue, None, paris(TUE, 10, 25)),
        (CALLBACK_RETURN, cb_tue, None, paris(TUE, 10, 30)),
        # Actions: on their day when the agency is open, else at the next opening; then each business day.
        (ACTION, plan, a_fri, paris(FRI, 9)),
        (ACTION_OVERDUE, plan, a_fri, paris(TUE, 9)),
        (ACTION_OVERDUE, plan, a_fri, paris(WED, 9)),
        (ACTION, plan, a_sat, paris(TUE, 9)),
        (ACTION_OVERDUE, plan, a_sat, paris(WED, 9)),
        (ACTION, plan, a_mon, paris(TUE, 9)),
        (ACTION_OVERDUE, plan, a_mon, paris(WED, 9)),
        (ACTION, plan, a_tue, paris(TUE, 9)),  # done at noon: no reminder on Wednesday
        # Business mornings only: not Saturday, Sunday, nor the holiday.
        (MORNING, None, None, paris(FRI, 9)),
        (MORNING, None, None, paris(TUE, 9)),
        (MORNING, None, None, paris(WED, 9)),
    }
    pending = {(r.kind, r.action_id, r.due_at) for r in rows(engine, PENDING)}
    assert pending == {
        (ACTION_OVERDUE, a_fri, paris(THU, 9)),
        (ACTION_OVERDUE, a_sat, paris(THU, 9)),
        (ACTION_OVERDUE, a_mon, paris(THU, 9)),
        (MORNING, None, paris(THU, 9)),
    }
    assert [(r.action_id, r.due_at) for r in rows(engine, CANCELLED)] == [(a_tue, paris(WED, 9))]

    opened = _opened_at(engine, list(m3.values()))
    assert opened == {
        m3[FRI]: paris(FRI, 9),
        m3[SAT]: paris(TUE, 9),
        m3[SUN]: paris(TUE, 9),
        m3[MON]: paris(TUE, 9),
        m3[TUE]: paris(TUE, 9),
        m3[WED]: paris(WED, 9),
        m3[THU]: None,
    }
    digests = [c for c in notifier.calls if c.event == "digest"]
    assert [c.at for c in digests] == [paris(FRI, 9), paris(TUE, 9), paris(WED, 9)]
    assert sorted(digests[1].detail.opened) == sorted([m3[SAT], m3[SUN], m3[MON], m3[TUE]])
    with Session(engine) as session:
        states = {session.get(M3Case, c).state for c in (cb_sat, cb_holiday, cb_tue)}
    assert states == {State.contact_attempt.value}
    assert [(c.case_id, c.at) for c in notifier.calls if c.event == "case_opened"] == [
        (m3[FRI], paris(FRI, 9)), *sorted((m3[d], paris(TUE, 9)) for d in (SAT, SUN, MON, TUE)), (m3[WED], paris(WED, 9))
    ]


def test_bot_down_over_the_weekend_fires_each_missed_reminder_once(engine, settings, cases, notifier):
    start = paris(FRI, 8)
    cb_sat = cases.callback(paris(SAT, 11), now=start, client_requested=True)
    cb_holiday = cases.callback(paris(MON, 19), now=start, client_requested=True)
    plan, (a_fri,) = cases.with_actions([(ActionKind.relance, may(FRI))], now=start)
    m3 = {day: cases.unopened(may(day)) for day in (SAT, MON, TUE, WED)}
    ticker = Ticker(engine, notifier, settings, worker="w1")
    run(ticker, start, paris(FRI, 9, 30))
    before = len(notifier.calls)

    # Back on Tuesday evening, the agency closed: only the booked callbacks fire, once each.
    run(ticker, paris(TUE, 21), paris(TUE, 23))
    late = [(c.event, c.case_id, c.at) for c in notifier.calls[before:]]
    assert late == [
        ("callback_due", cb_sat, paris(TUE, 21)),
        ("case_changed", cb_sat, paris(TUE, 21)),
        ("callback_due", cb_holiday, paris(TUE, 21)),
        ("case_changed", cb_holiday, paris(TUE, 21)),
    ]

    # Wednesday's opening does the missed mornings' work once: one digest, every due case opened once.
    before = len(notifier.calls)
    run(ticker, paris(WED, 8), paris(WED, 17))
    events = [(c.event, c.case_id, c.action_id, c.at) for c in notifier.calls[before:]]
    assert sorted(events, key=str) == sorted(
        [("case_opened", m3[day], None, paris(WED, 9)) for day in (SAT, MON, TUE, WED)]
        + [("cases_opened", None, None, paris(WED, 9)), ("digest", None, None, paris(WED, 9)),
           ("action_due", plan, a_fri, paris(WED, 9))],
        key=str,
    )
    mornings = {r.dedupe_key: r.status for r in rows(engine) if r.kind == MORNING}
    assert mornings == {
        "morning:2028-05-05": FIRED,
        "morning:2028-05-09": CANCELLED,  # superseded by Wednesday's
        "morning:2028-05-10": FIRED,
        "morning:2028-05-11": PENDING,
    }
