"""The outbox hands each due message to one worker, a case to one worker at a time, the newest row of each
message first by priority, and keeps what Slack answered but not what the message said."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import Session, select

from storage import outbox, slack_messages
from storage.tables import Outbox
from tests.conftest import NOW, client_file, contract


def queue(engine, count: int, *, case_id: int | None = None) -> None:
    with Session(engine) as session, session.begin():
        for index in range(count):
            outbox.enqueue(session, "chat.postMessage", {"text": str(index)}, case_id=case_id, now=NOW)


def test_claimed_messages_are_leased_until_marked(engine):
    queue(engine, 2)

    first = outbox.claim_due(engine, NOW, limit=10)
    assert [m.payload["text"] for m in first] == ["0", "1"] and first[0].attempts == 1
    assert outbox.claim_due(engine, NOW, limit=10) == []  # leased

    outbox.mark_delivered(engine, first[0], {"ts": "1700000000.0001"}, now=NOW)
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


def test_a_case_is_held_by_one_worker_at_a_time(engine, factory):
    case_id = factory.case()
    queue(engine, 2, case_id=case_id)
    queue(engine, 1)

    first = outbox.claim_due(engine, NOW, limit=2)
    assert [m.payload["text"] for m in first] == ["0", "1"]
    queue(engine, 1, case_id=case_id)
    assert [m.case_id for m in outbox.claim_due(engine, NOW)] == [None]  # the case's new row waits
    for message in first:
        outbox.mark_delivered(engine, message, {"ts": "1"})
    assert [m.case_id for m in outbox.claim_due(engine, NOW)] == [case_id]


def upsert(engine, case_id: int, role: str, text: str, *, priority: int = outbox.NORMAL) -> None:
    with Session(engine) as session, session.begin():
        outbox.enqueue(session, outbox.UPSERT, {"case_id": case_id, "role": role, "channel": "C1", "text": text,
                                               "blocks": []}, case_id=case_id, now=NOW, priority=priority)


def test_only_the_newest_row_of_a_message_is_claimed_and_its_delivery_settles_the_older_ones(engine, factory):
    case_id = factory.case()
    for text in ("v1", "v2", "v3"):
        upsert(engine, case_id, "card", text)

    (claimed,) = outbox.claim_due(engine, NOW)
    assert claimed.payload["text"] == "v3"
    outbox.mark_delivered(engine, claimed, {"channel": "C1", "ts": "9.1"}, now=NOW)

    with Session(engine) as session:
        rows = list(session.exec(select(Outbox).order_by(Outbox.id)))
    assert [r.status for r in rows] == ["delivered"] * 3
    assert [r.result for r in rows] == [{"coalesced_into": claimed.id}] * 2 + [{"channel": "C1", "ts": "9.1"}]
    # Delivered and confirmed: the address stays, the content (a client's name) is gone.
    assert all(r.payload == {"case_id": case_id, "role": "card", "channel": "C1"} for r in rows)
    assert all(r.digest for r in rows)


def test_rows_an_agent_waits_for_are_claimed_before_the_card_and_bulk_work(engine, factory):
    case_id, other = factory.case(), factory.case(client_file(number="C002"), [contract(number="HAB-2")])
    upsert(engine, other, "card", "opening", priority=outbox.BULK)
    upsert(engine, case_id, "card", "card")
    upsert(engine, case_id, "step:profile", "step", priority=outbox.URGENT)

    assert [m.payload["text"] for m in outbox.claim_due(engine, NOW)] == ["step", "card", "opening"]


def test_a_claimed_row_carries_where_its_message_and_its_card_are(engine, factory):
    case_id = factory.case()
    slack_messages.record(engine, case_id, "card", "C1", "1.1")
    slack_messages.record(engine, case_id, "step:profile", "C1", "1.2")
    upsert(engine, case_id, "step:profile", "step")
    upsert(engine, case_id, "step:contracts", "next")

    claimed = {m.payload["role"]: m for m in outbox.claim_due(engine, NOW)}
    assert (claimed["step:profile"].posted, claimed["step:profile"].card_ts) == (("C1", "1.2"), "1.1")
    assert (claimed["step:contracts"].posted, claimed["step:contracts"].card_ts) == (None, "1.1")


def test_the_last_digest_of_each_message_is_what_was_last_queued(engine, factory):
    case_id = factory.case()
    upsert(engine, case_id, "card", "v1")
    upsert(engine, case_id, "card", "v2")
    upsert(engine, case_id, "step:profile", "p1")

    with Session(engine) as session:
        digests = outbox.last_digests(session, case_id)
    assert digests == {"card": outbox.content_digest({"text": "v2", "blocks": []}),
                       "step:profile": outbox.content_digest({"text": "p1", "blocks": []})}


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


def test_bulk_work_waits_behind_urgent_rows_but_never_starves(engine):
    with Session(engine) as session, session.begin():
        outbox.enqueue(session, "chat.postMessage", {"text": "ouverture"}, now=NOW, priority=outbox.BULK)
        for index in range(3 * outbox.PRIORITY_STEP):
            outbox.enqueue(session, "chat.postMessage", {"text": str(index)}, now=NOW, priority=outbox.URGENT)

    order = [m.payload["text"] for m in outbox.claim_due(engine, NOW, limit=4 * outbox.PRIORITY_STEP)]
    assert order.index("ouverture") == 2 * outbox.PRIORITY_STEP - 1  # the urgent rows queued up to 200 after it
