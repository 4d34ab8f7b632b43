"""Which models each catalogue write touched (migration 0021), and a whole read brought up to date from them.

Writes are made as the server's login role and as signed-in people, in SQL as other code would make them, with
hostile text; a read brought up to date must equal a whole read made at the same moment, for an admin, and a plain
user must never be handed the log.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.database import acting_as
from dashboard.queries import catalogue as q
from dashboard.services import catalogue_changes
from dashboard.services import routing_rules as rules
from dashboard.services.catalogue import CatalogueService, picks_of, slots_of
from dashboard.services.catalogue_changes import Changes, brought_up_to_date, changed_since
from dashboard.services.routing import RoutingService
from dashboard.services.usage import UsageService
from tests import hostile
from tests.factories import make_model, make_provider, make_user


def _log(engine, since: int, *, slots: bool = False) -> dict[int, set]:
    """Per write after since, the ids it noted (with their slots, when slots)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select write, model_id, modality, task from dashboard.catalogue_changes where write > :s"),
            {"s": since},
        ).all()
    log: dict[int, set] = {}
    for write, model, modality, task in rows:
        log.setdefault(write, set()).add((model, modality, task) if slots else model)
    return log


def _writes(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("select last_value from dashboard.catalogue_writes")).scalar_one()


def test_each_write_notes_the_models_it_touched_and_nothing_else(engine):
    provider = make_provider(engine)
    kept = str(make_model(engine, provider))
    start = _writes(engine)
    with engine.begin() as conn:
        two = conn.execute(
            sa.text(
                "insert into api_models (provider_id, model_key, display_name, modality, task) values "
                "(:p, 'owner/one', :a, 'image', 'generation'), (:p, 'owner/two', :b, 'text', 'chat') returning id"
            ),
            {"p": provider, "a": hostile.SQL, "b": hostile.RLO},
        ).scalars()
        first, second = (str(i) for i in two)
    with engine.begin() as conn:
        conn.execute(
            sa.text("update api_models set display_name = :n where id = :id"), {"n": hostile.HTML, "id": first}
        )
        conn.execute(sa.text("update api_models set priority = 1 where false"))  # no row: a count, no id
        conn.execute(sa.text("delete from api_models where id = :id"), {"id": second})
        conn.execute(
            sa.text("update api_providers set display_name = :n where id = :id"), {"n": hostile.LONG, "id": provider}
        )
    log = _log(engine, start)
    assert list(log.values()) == [{first, second}, {first}, {second}, {None}]
    assert _writes(engine) == start + 5  # the update of no row counts, and notes nothing
    assert kept not in set().union(*log.values())


def test_a_new_id_notes_both_and_a_truncate_notes_that_any_model_may_have_changed(engine):
    model = str(make_model(engine))
    start = _writes(engine)
    with engine.begin() as conn:
        moved = conn.execute(
            sa.text("update api_models set id = gen_random_uuid(), task = :t where id = :id returning id"),
            {"id": model, "t": hostile.SQL},
        ).scalar_one()
        conn.execute(sa.text("truncate api_models cascade"))
    assert list(_log(engine, start, slots=True).values()) == [
        {(model, "image", "generation"), (str(moved), "image", hostile.SQL)},  # before and after
        {(None, None, None)},
    ]


def test_a_signed_in_admins_write_is_noted_though_people_have_no_rights_on_the_log(engine):
    admin, model = make_user(engine, role="admin"), make_model(engine)
    start = _writes(engine)
    with acting_as(engine, admin) as conn:
        conn.execute(sa.text("update api_models set is_active = false where id = :id"), {"id": model})
        with pytest.raises(sa.exc.ProgrammingError):  # nobody but the owner writes the log
            with conn.begin_nested():
                conn.execute(sa.text("insert into dashboard.catalogue_changes values (1, null)"))
    assert _log(engine, start) == {start + 1: {str(model)}}


def test_only_admins_are_handed_the_changed_ids(engine):
    admin, user, model = make_user(engine, role="admin"), make_user(engine), make_model(engine, is_active=False)
    since = _writes(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set priority = 3 where id = :id"), {"id": model})
    with acting_as(engine, admin) as conn:
        epoch = catalogue_changes.epoch(conn)
        assert epoch and changed_since(conn, since, epoch).ids == {str(model)}
    with acting_as(engine, user) as conn:  # the id of an inactive model is none of a plain user's business
        assert catalogue_changes.epoch(conn) is None and changed_since(conn, since, epoch) is None
        assert conn.execute(sa.text("select count(*) from dashboard.catalogue_changes")).scalar_one() == 0
    with acting_as(engine, None) as conn, pytest.raises(sa.exc.ProgrammingError):
        conn.execute(sa.text("select count(*) from dashboard.catalogue_changes"))


def test_what_the_log_cannot_say_is_read_whole(engine):
    admin, provider = make_user(engine, role="admin"), make_provider(engine)
    models = [str(make_model(engine, provider)) for _ in range(3)]
    with acting_as(engine, admin) as conn:
        epoch = catalogue_changes.epoch(conn)
        floor = conn.execute(sa.text("select write from dashboard.catalogue_changes_floor")).scalar_one()
        since = _writes(engine)
        assert changed_since(conn, since, epoch) == Changes(frozenset(), frozenset())
        assert changed_since(conn, floor - 1, epoch) is None  # changes before the migration are not in the log
        assert changed_since(conn, since, epoch + "0") is None  # another database's (or copy's) log
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set priority = priority + 1 where provider_id = :p"), {"p": provider})
    with acting_as(engine, admin) as conn:
        assert changed_since(conn, since, epoch) == Changes(frozenset(models), frozenset({("image", "generation")}))
        assert changed_since(conn, since, epoch, most=2) is None  # more than most: one whole read costs less
    with engine.begin() as conn:
        conn.execute(sa.text("update api_providers set is_active = false where id = :p"), {"p": provider})
    with acting_as(engine, admin) as conn:
        assert changed_since(conn, since, epoch) is None  # a provider's write: any model's row may show it


def test_every_hundredth_write_prunes_what_is_an_hour_or_ten_thousand_writes_old_and_raises_the_floor(engine):
    admin, model = make_user(engine, role="admin"), make_model(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into dashboard.catalogue_changes (write, model_id, written_at) values "
                "(1500, null, now()), (2500, null, now()), (5000, :m, now() - interval '61 minutes'), "
                "(5001, :m, now() - interval '59 minutes')"
            ),
            {"m": str(model)},
        )
        conn.execute(sa.text("select setval('dashboard.catalogue_writes', 11998)"))
    for _ in range(3):  # 11,999, 12,000 (prunes up to 2,000 and what is over an hour old), 12,001
        with engine.begin() as conn:
            conn.execute(sa.text("update api_models set priority = priority + 1 where id = :id"), {"id": model})
    with engine.connect() as conn:
        left = conn.execute(sa.text("select write from dashboard.catalogue_changes order by 1")).scalars().all()
        floor = conn.execute(sa.text("select write from dashboard.catalogue_changes_floor")).scalar_one()
    assert left == [2500, 5001, 11999, 12000, 12001] and floor == 5000  # the last write dropped
    with acting_as(engine, admin) as conn:
        epoch = catalogue_changes.epoch(conn)
        assert changed_since(conn, 4999, epoch) is None
        assert changed_since(conn, 5000, epoch).ids == {str(model)}


def test_a_statement_touching_more_than_a_thousand_models_notes_any_model_in_one_row(engine):
    provider = make_provider(engine)
    start = _writes(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into api_models (provider_id, model_key, display_name, modality, task) "
                "select :p, 'bulk/' || g, :n || g, 'image', 'generation' from generate_series(1, 1001) g"
            ),
            {"p": provider, "n": hostile.SQL},
        )
        conn.execute(sa.text("update api_models set priority = 7 where provider_id = :p"), {"p": provider})
        conn.execute(
            sa.text("update api_models set priority = 8 where provider_id = :p and model_key <> 'bulk/1'"),
            {"p": provider},
        )  # a thousand exactly: each noted
        conn.execute(sa.text("delete from api_models where provider_id = :p"), {"p": provider})
    counts = {write: len(ids) for write, ids in _log(engine, start, slots=True).items()}
    assert list(counts.values()) == [1, 1, 1000, 1]
    assert [None in ids for ids in _log(engine, start).values()] == [True, True, False, True]


def test_a_database_copied_from_another_has_an_epoch_of_its_own(engine, admin_engine, db_url):
    admin = make_user(engine, role="admin")
    with acting_as(engine, admin) as conn:
        epoch = catalogue_changes.epoch(conn)
    engine.dispose()
    copy = sa.engine.make_url(db_url).database + "_copy"
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'create database "{copy}" template "{sa.engine.make_url(db_url).database}"'))
    try:
        copied = sa.create_engine(sa.engine.make_url(db_url).set(database=copy))
        with acting_as(copied, admin) as conn:
            assert catalogue_changes.epoch(conn) not in (None, epoch)
        copied.dispose()
    finally:
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{copy}" with (force)'))


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("model_id").reset_index(drop=True)


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    left, right = _by_id(left), _by_id(right)
    for column in ("pricing", "input_defaults"):  # dicts: compared as JSON
        left[column], right[column] = left[column].map(json.dumps), right[column].map(json.dumps)
    pd.testing.assert_frame_equal(left, right)


def test_a_read_brought_up_to_date_equals_a_whole_read_after_writes_of_every_kind(engine):
    admin_id, user_id = make_user(engine, role="admin"), make_user(engine)
    admin, user = UsageService(engine, user_id=admin_id), UsageService(engine, user_id=user_id)
    provider, other = make_provider(engine), make_provider(engine, display_name=hostile.BLOCKS)
    models = [make_model(engine, provider, display_name=name) for name in hostile.MARKDOWN[:4]]
    hidden = make_model(engine, other, is_active=False, display_name=hostile.ZERO_WIDTH)
    epoch, kept = admin.changes_epoch(), admin.catalogue()
    since = CatalogueService(engine, user_id=admin_id).data_version()[0]
    with engine.begin() as conn:  # as other code writes them: renamed, priced, moved, shown, hidden, gone, added
        conn.execute(
            sa.text("update api_models set display_name = :n where id = :id"), {"n": hostile.SQL, "id": models[0]}
        )
        conn.execute(
            sa.text("update api_models set pricing = :p, provider_id = :o where id = :id"),
            {"p": json.dumps({"per_image": 0.04, "currency": hostile.FORMULA}), "o": other, "id": models[1]},
        )
        conn.execute(sa.text("update api_models set is_active = true where id = :id"), {"id": hidden})
        conn.execute(sa.text("update api_models set is_active = false where id = :id"), {"id": models[2]})
        conn.execute(sa.text("delete from api_models where id = :id"), {"id": models[3]})
    added = make_model(engine, other, display_name=hostile.LONG, input_defaults={"num_images": 4})
    fresh, changed = admin.catalogue_since(since, epoch)
    assert changed == {str(m) for m in (*models, hidden, added)}
    _same(brought_up_to_date(kept, fresh, changed, key="model_id"), admin.catalogue())
    assert user.changes_epoch() is None and user.catalogue_since(since, epoch) is None  # a user reads whole


def test_brought_up_to_date_drops_what_the_reader_no_longer_sees_and_ignores_rows_not_changed():
    kept = pd.DataFrame({"model_id": ["a", "b", "c"], "name": ["A", "B", "C"]})
    fresh = pd.DataFrame({"model_id": ["b", "d", "x"], "name": ["B2", "D", "not changed: ignored"]})
    merged = brought_up_to_date(kept, fresh, frozenset({"b", "c", "d"}), key="model_id")
    assert sorted(zip(merged["model_id"], merged["name"], strict=True)) == [("a", "A"), ("b", "B2"), ("d", "D")]
    assert brought_up_to_date(kept, fresh, frozenset(), key="model_id") is kept
    gone = brought_up_to_date(kept, fresh.iloc[0:0], frozenset({"a", "b", "c"}), key="model_id")
    assert gone.empty and list(gone.columns) == ["model_id", "name"]


@pytest.mark.parametrize("which", ["facts", "picks"])
def test_slots_brought_up_to_date_equal_a_whole_read_after_writes_of_every_kind(engine, which):
    admin = CatalogueService(engine, user_id=make_user(engine, role="admin"))
    user = CatalogueService(engine, user_id=make_user(engine))
    provider = make_provider(engine)
    image = [make_model(engine, provider, display_name=f"{hostile.HTML} {n}", priority=n) for n in range(4)]
    chat = [make_model(engine, provider, modality="text", task="chat", display_name=hostile.RLO) for _ in range(2)]
    lonely = make_model(engine, provider, modality="audio", task=hostile.BLOCKS)
    epoch, kept = admin.changes_epoch(), admin.slot_rows(which)
    since = admin.data_version()[0]
    with engine.begin() as conn:  # as other code writes them
        conn.execute(sa.text("update api_models set task = 'chat', modality = 'text' where id = :m"), {"m": image[0]})
        conn.execute(sa.text("update api_models set is_active = false where id = :m"), {"m": image[3]})
        conn.execute(sa.text("update api_models set is_default = true where id = :m"), {"m": chat[1]})
        conn.execute(sa.text("update api_models set priority = 99 where id = :m"), {"m": image[1]})
        conn.execute(sa.text("delete from api_models where id = :m"), {"m": lonely})  # its slot is gone
    make_model(engine, provider, modality="video", task=hostile.SQL)  # a slot that is new
    brought = admin.slot_rows_since(which, kept, since, epoch)
    whole = admin.slot_rows(which)
    assert rules.by_slot(brought) == rules.by_slot(whole)
    assert picks_of(brought) == picks_of(whole)
    if which == "facts":
        assert slots_of(brought) == slots_of(whole)
    assert ("audio", hostile.BLOCKS) not in rules.by_slot(brought)
    assert admin.slot_rows_since(which, whole, admin.data_version()[0], epoch) == whole  # nothing since: kept
    assert user.changes_epoch() is None and user.slot_rows_since(which, kept, since, epoch) is None


def test_a_slot_read_again_pays_the_per_row_policy_on_its_own_rows_only(engine):
    """Under the seed's policy the slot's condition is checked first (it leaks nothing), by the index."""
    admin = make_user(engine, role="admin")
    provider = make_provider(engine)
    for n in range(200):
        make_model(engine, provider, modality="text", task=f"task {n % 50}")
    compiled = q.slot_facts({("text", "task 7")}).compile(engine, compile_kwargs={"literal_binds": True})
    with acting_as(engine, admin) as conn:
        conn.execute(sa.text("set local enable_seqscan = off"))
        plan = "\n".join(conn.execute(sa.text(f"explain (analyze, costs off) {compiled}")).scalars())
    scan = next(line for line in plan.splitlines() if "Index Scan" in line and "api_models" in line)
    assert re.search(r"rows=4(\.00)?\b", scan), plan  # the slot's four rows, each then checked by the policy
    assert "Index Cond: ((modality = " in plan, plan


def test_model_choices_brought_up_to_date_equal_a_whole_read_in_the_same_order(engine):
    admin = CatalogueService(engine, user_id=make_user(engine, role="admin"))
    user = CatalogueService(engine, user_id=make_user(engine))
    provider, other = make_provider(engine, display_name="b provider"), make_provider(engine, display_name="A provider")
    names = ["beta", "Alpha", "alpha", hostile.ZERO_WIDTH, hostile.RLO, "ÉCLAIR", "éclair"]
    models = [make_model(engine, provider, display_name=name) for name in names]
    epoch, kept = admin.changes_epoch(), admin.model_choices()
    since = admin.data_version()[0]
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set display_name = 'ALPHA' where id = :m"), {"m": models[0]})
        conn.execute(sa.text("update api_models set provider_id = :p where id = :m"), {"p": other, "m": models[2]})
        conn.execute(sa.text("update api_models set is_active = false where id = :m"), {"m": models[3]})
        conn.execute(sa.text("delete from api_models where id = :m"), {"m": models[4]})
    make_model(engine, provider, display_name="alpha")  # a namesake: told apart by provider, then id
    brought = admin.model_choices_since(kept, since, epoch)
    assert brought == admin.model_choices()
    assert [row["display_name"].casefold() for row in brought] == sorted(r["display_name"].casefold() for r in brought)
    assert admin.model_choices_since(brought, admin.data_version()[0], epoch) is brought  # nothing since
    viewer_sees = user.model_choices()
    assert str(models[3]) not in {str(r["id"]) for r in viewer_sees}  # inactive: not the viewer's
    assert user.model_choices_since(viewer_sees, since, epoch) is None  # a user reads whole


def test_routing_previews_brought_up_to_date_equal_a_whole_build_after_writes_of_every_kind(engine):
    """Routing's "All slots": only the slots written to are read and built again, and the whole equals a build from
    nothing, slots gone and new included; after a provider's write, a whole build."""
    admin_id = make_user(engine, role="admin")
    routing, catalogue = RoutingService(engine, user_id=admin_id), CatalogueService(engine, user_id=admin_id)
    provider, other = make_provider(engine), make_provider(engine, display_name=hostile.BLOCKS)
    image = [make_model(engine, provider, display_name=f"{hostile.HTML} {n}", priority=n) for n in range(4)]
    chat = [make_model(engine, other, modality="text", task="chat", display_name=hostile.RLO) for _ in range(2)]
    lonely = make_model(engine, provider, modality="audio", task=hostile.BLOCKS)
    make_model(engine, provider, modality="video", task="generation")  # a slot no write touches: kept as it was
    epoch, kept = catalogue.changes_epoch(), routing.preview_all()
    since = catalogue.data_version()[0]
    with engine.begin() as conn:  # as other code writes them
        conn.execute(sa.text("update api_models set task = 'chat', modality = 'text' where id = :m"), {"m": image[0]})
        conn.execute(sa.text("update api_models set priority = 99, is_default = true where id = :m"), {"m": image[1]})
        conn.execute(sa.text("update api_models set is_active = false where id = :m"), {"m": chat[0]})
        conn.execute(sa.text("delete from api_models where id = :m"), {"m": lonely})  # its slot is gone
    make_model(engine, provider, modality="video", task=hostile.SQL, pricing={"note": hostile.FORMULA})  # a new slot
    brought = routing.preview_all_since(kept, since, epoch)
    whole = routing.preview_all()
    assert brought == whole
    assert [(p.modality, p.task) for p in brought] == [(p.modality, p.task) for p in whole]
    unchanged = next(p for p in kept if (p.modality, p.task) == ("video", "generation"))
    assert any(p is unchanged for p in brought)  # not read again
    assert routing.preview_all_since(whole, catalogue.data_version()[0], epoch) is whole  # nothing since: kept
    user = RoutingService(engine, user_id=make_user(engine))
    assert user.preview_all_since(kept, since, epoch) is None  # a user may not read the log: a whole build
    with engine.begin() as conn:
        conn.execute(sa.text("update api_providers set is_active = false where id = :p"), {"p": other})
    assert routing.preview_all_since(whole, since, epoch) is None  # any model's row may show a provider's write
