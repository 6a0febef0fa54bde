"""serve.storage.db on SQLite (WAL) and PostgreSQL: pragmas, aware UTC datetimes, transactions, constraints,
the per-customer lock, retries."""

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from serve.storage.db import ConcurrencyConflict, lock_customer, make_engine, ping, run_in_transaction, session_scope
from serve.storage.events import EventName
from serve.storage.tables import Cart, Contact, Customer, Event
from tests.serve.factories import new_customer


def test_sqlite_pragmas(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert c.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    ping(eng)
    eng.dispose()


def test_urls():
    assert make_engine("postgresql://postgres@127.0.0.1/test").dialect.driver == "psycopg"
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        make_engine("mysql://u@h/db")
    with pytest.raises(ValueError, match="PostgreSQL"):
        make_engine("sqlite:///x.db", schema="s")


def test_datetimes_are_aware_utc(factory):
    cid = new_customer(factory)
    sp = timezone(timedelta(hours=-3))
    with session_scope(factory) as s:
        s.get(Customer, cid).last_inbound_at = datetime(2026, 1, 2, 9, 30, tzinfo=sp)
    with session_scope(factory) as s:
        c = s.get(Customer, cid, populate_existing=True)
        assert c.last_inbound_at == datetime(2026, 1, 2, 12, 30, tzinfo=UTC) and c.last_inbound_at.tzinfo is not None
        assert c.created_at.tzinfo is not None and abs(datetime.now(UTC) - c.created_at) < timedelta(minutes=5)
        c.last_inbound_at = datetime(2026, 1, 2, 12, 30)  # naive: refused
        with pytest.raises(Exception, match="naive datetime"):
            s.flush()
        s.rollback()


def test_session_scope_commits_or_rolls_back(factory):
    cid = new_customer(factory)
    with pytest.raises(RuntimeError), session_scope(factory) as s:
        s.add(Event(customer_id=cid, name="cart_add", properties={}))
        s.flush()
        raise RuntimeError("boom")
    with session_scope(factory) as s:
        assert s.scalars(select(Event)).all() == []


def test_constraints(factory):
    cid = new_customer(factory)
    with pytest.raises(IntegrityError), session_scope(factory) as s:  # foreign keys on (SQLite too)
        s.add(Cart(customer_id=cid + 1000))
    with session_scope(factory) as s:
        s.add(Cart(customer_id=cid, status="checked_out"))
        s.add(Cart(customer_id=cid, status="checked_out"))
        s.add(Cart(customer_id=cid))
    with pytest.raises(IntegrityError), session_scope(factory) as s:  # one open cart per customer
        s.add(Cart(customer_id=cid))
    with pytest.raises(IntegrityError), session_scope(factory) as s:
        s.add(Cart(customer_id=cid, status="lost"))


def test_contact_deletion_keeps_hashed_customer(factory):
    cid = new_customer(factory, name="Ana")
    with session_scope(factory) as s:
        s.add(Contact(customer_id=cid, phone="5511987654321"))
    with session_scope(factory) as s:
        s.delete(s.get(Contact, cid))
    with session_scope(factory) as s:
        assert s.get(Customer, cid).name == "Ana" and s.get(Contact, cid) is None
    cid2 = new_customer(factory)
    with session_scope(factory) as s:
        s.add(Contact(customer_id=cid2, phone="5511900000000"))
    with session_scope(factory) as s:
        s.execute(text("DELETE FROM customers WHERE id = :id"), {"id": cid2})  # cascades in the database
        assert s.execute(text("SELECT count(*) FROM contacts WHERE customer_id = :id"), {"id": cid2}).scalar() == 0


def test_lock_customer_serialises(factory):
    cid = new_customer(factory)
    with session_scope(factory) as s, pytest.raises(LookupError):
        lock_customer(s, cid + 999)
    held, waited = threading.Event(), []

    def holder():
        with session_scope(factory) as s:
            lock_customer(s, cid)
            held.set()
            time.sleep(0.4)

    def waiter():
        held.wait(5)
        t0 = time.monotonic()
        with session_scope(factory) as s:
            lock_customer(s, cid)
            waited.append(time.monotonic() - t0)

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert waited and waited[0] >= 0.3


def test_run_in_transaction_retries_lost_races_only(factory):
    cid = new_customer(factory)
    calls = []

    def flaky(s):
        calls.append(1)
        s.add(Event(customer_id=cid, name="intent", properties={"try": len(calls)}))
        if len(calls) < 3:
            raise ConcurrencyConflict("lost")
        return len(calls)

    assert run_in_transaction(factory, flaky) == 3
    with session_scope(factory) as s:  # the two failed attempts were rolled back
        assert [e.properties for e in s.scalars(select(Event))] == [{"try": 3}]
    with pytest.raises(KeyError):
        run_in_transaction(factory, lambda s: calls.append(1) or {}["x"])
    assert len(calls) == 4  # not retried


def test_event_names_come_from_the_registry():
    """KPIs read events by name: a name outside serve/storage/events.py would never be counted."""
    assert Event(name=EventName.CART_ADD).name == "cart_add"
    with pytest.raises(ValueError, match="not in serve/storage/events.py"):
        Event(name="cart_added")
