"""One lock order for every writer of the catalogue (services/default_slot.py): table, slots, rows.

Before it, an import held the table and waited for a slot that a "make default" held while that one waited
for the table; PostgreSQL failed one of them and the app showed it as "the database cannot be reached".
"""

from __future__ import annotations

import threading
import time
from functools import partial

import sqlalchemy as sa

from dashboard.database import acting_as
from dashboard.services import ConcurrentChange, ModelService
from dashboard.services.base import _translate_db_errors
from dashboard.services.default_slot import lock_for_writing, lock_slots
from tests.concurrency import run_together
from tests.factories import make_model, make_provider, make_user


def test_an_import_holding_the_table_gets_the_slot_a_make_default_is_waiting_for(engine):
    admin = make_user(engine, "admin")
    model = make_model(engine, make_provider(engine), modality="image", task="generation")
    done: list[object] = []
    with acting_as(engine, admin) as importing:
        lock_for_writing(importing, whole_table=True)  # what TransferService.apply takes first
        clicking = threading.Thread(target=lambda: done.append(ModelService(engine, user_id=admin).set_default(model)))
        clicking.start()
        time.sleep(0.5)  # the click is now waiting: for the table, holding no slot
        assert clicking.is_alive()
        started = time.monotonic()
        lock_slots(importing, [("image", "generation")])  # would wait for the click under the old order
        assert time.monotonic() - started < 0.5
    clicking.join(timeout=10)
    assert not clicking.is_alive() and done == [None]
    with engine.connect() as conn:
        assert conn.execute(sa.text("select is_default from api_models where id = :id"), {"id": model}).scalar()


def test_a_deadlock_is_a_concurrent_change_to_retry_not_a_database_outage(engine):
    first, second = make_model(engine, make_provider(engine)), make_model(engine, make_provider(engine))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def lock_both(order):
        try:
            with _translate_db_errors(), engine.begin() as conn:
                conn.execute(sa.text("select 1 from api_models where id = :id for update"), {"id": order[0]})
                barrier.wait()
                conn.execute(sa.text("select 1 from api_models where id = :id for update"), {"id": order[1]})
        except Exception as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=lock_both, args=(o,)) for o in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(errors) == 1 and isinstance(errors[0], ConcurrentChange), errors
    assert "try again" in str(errors[0])


def test_imports_and_default_clicks_racing_never_fail_for_locking(engine):
    from dashboard.services.transfer import TransferService

    admin = make_user(engine, "admin")
    provider = make_provider(engine, name="race")
    models = [make_model(engine, provider, modality="image", task="generation", model_key=f"k{i}") for i in range(3)]
    for round_ in range(8):
        data = ("provider,model_key,priority\n" + "".join(f"race,k{i},{round_ + i}\n" for i in range(3))).encode()
        calls = [partial(TransferService(engine, user_id=admin).apply, data, "race.csv")]
        calls += [partial(ModelService(engine, user_id=admin).set_default, m) for m in models]
        _, errors = run_together(lambda call: call(), calls)
        assert errors == [], (round_, errors)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where is_default")).scalar() == 1
