"""The outbox hands each due message to one worker, in order per case, and records what Slack answered."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import Session, select

from storage import outbox
from storage.tables import Outbox
from tests.conftest import NOW


def queue(engine, count: int, *, case_id: int | None = None) -> None:
    with Session(engine) as session, session.begin():
        for index in range(count):
            outbox.enqueue(session, "chat.postMessage", {"text": str(index)}, case_id=case_id, now=NOW)


def test_claimed_messages_are_leased_until_marked(engine):
    queue(engine, 2)

    first = outbox.claim_due(engine, NOW, limit=10)
    assert [m.payload["text"] for m in first] == ["0", "1"] and first[0].attempts == 1
    assert outbox.claim_due(engine, NOW, limit=10) == []  # leased

    outbox.mark_delivered(engine, first[0].id, {"ts": "1700000000.0001"}, now=NOW)
    outbox.mark_retry(engine, first[1].id, "ratelimited", NOW + timedelta(seconds=30))
    assert outbox.claim_due(engine, NOW + timedelta(seconds=10)) == []
    retried = outbox.claim_due(engine, NOW + timedelta(seconds=30))
    assert [(m.id, m.attempts) for m in retried] == [(first[1].id, 2)]
    outbox.mark_failed(engine, first[1].id, "channel_not_found")

    with Session(engine) as session:
        rows = {r.id: r for r in session.exec(select(Outbox))}
    assert rows[first[0].id].status == "delivered" and rows[first[0].id].result == {"ts": "1700000000.0001"}
    assert rows[first[1].id].status == "failed" and rows[first[1].id].last_error == "channel_not_found"


def test_an_expired_lease_makes_the_message_claimable_again(engine):
    queue(engine, 1)
    outbox.claim_due(engine, NOW, lease=timedelta(minutes=2))

    assert len(outbox.claim_due(engine, NOW + timedelta(minutes=3))) == 1


def test_messages_of_one_case_go_out_in_order(engine, factory):
    case_id = factory.case()
    queue(engine, 2, case_id=case_id)

    first = outbox.claim_due(engine, NOW)
    assert [m.payload["text"] for m in first] == ["0"]  # the update waits for the card
    outbox.mark_delivered(engine, first[0].id, {"ts": "1"})
    assert [m.payload["text"] for m in outbox.claim_due(engine, NOW)] == ["1"]


def test_same_dedupe_key_is_queued_once(engine):
    with Session(engine) as session, session.begin():
        assert outbox.enqueue(session, "chat.postMessage", {}, dedupe_key="card-1", now=NOW) is not None
        assert outbox.enqueue(session, "chat.postMessage", {}, dedupe_key="card-1", now=NOW) is None
    assert len(outbox.claim_due(engine, NOW)) == 1


def test_concurrent_claimers_on_postgresql_never_get_the_same_row(pg_engine):
    queue(pg_engine, 200)
    claimed: list[list[int]] = [[], [], [], []]
    start = threading.Barrier(len(claimed))

    def worker(index: int) -> None:
        start.wait()
        while batch := outbox.claim_due(pg_engine, NOW, limit=7):
            claimed[index].extend(m.id for m in batch)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(claimed))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [message_id for ids in claimed for message_id in ids]
    assert len(every) == len(set(every)) == 200
    assert sum(1 for ids in claimed if ids) > 1  # the claimers really ran side by side
