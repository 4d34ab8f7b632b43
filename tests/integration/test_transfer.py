"""Export and import: a lossless round trip, a dry run that names every problem, all or nothing."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from dashboard.demo import seed_demo
from dashboard.services import EditConflict, InvalidModel, NotAllowed
from dashboard.services.transfer import (
    MAX_ROWS,
    ImportRefused,
    TransferService,
    describe_plan,
    read_file,
    to_csv,
    to_json,
)
from dashboard.services.transfer import loads_exact as exact
from tests import hostile
from tests.concurrency import run_together
from tests.factories import make_model, make_provider, make_user


@pytest.fixture
def admin(engine):
    return make_user(engine, "admin")


@pytest.fixture
def demo(engine):
    seed_demo(engine, jobs=0, bcrypt_rounds=4)
    with engine.connect() as conn:
        return conn.execute(sa.text("select id from auth.users where email = 'admin@example.com'")).scalar_one()


def _snapshot(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select id, provider_id, model_key, version, display_name, modality, task, model_family, "
                "endpoint_path, input_defaults::text, capabilities::text, pricing::text, output_format, is_active, "
                "is_default, priority, updated_at from api_models order by id"
            )
        ).all()


def _statuses(plan) -> dict[str, str]:
    return {r.where: r.status for r in plan.rows}


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_a_round_trip_changes_nothing(engine, demo, kind):
    service = TransferService(engine, user_id=demo)
    with engine.begin() as conn:  # numbers JSON keeps digit for digit only when handled exactly
        conn.execute(
            sa.text("""update api_models set pricing = '{"per_image": 0.10, "currency": "USD",
            "billing_unit": "per_image", "note": "=1+1", "big": 12345678901234567890.123456789}'::jsonb,
            display_name = '''=cmd|calc', model_family = '-x' where display_name = 'SDXL 1.0'""")
        )
    before = _snapshot(engine)
    rows = service.export_rows()
    data = to_json(rows).encode() if kind == "json" else to_csv(rows)
    plan = service.plan(data, f"models.{kind}")
    assert plan.ok and plan.count("unchanged") == 32 and not plan.writes, [r.changes for r in plan.writes]
    service.apply(data, f"models.{kind}", expected=plan.fingerprint())
    assert _snapshot(engine) == before  # not even updated_at moved


def test_the_csv_is_safe_in_a_spreadsheet_and_reads_back(engine, demo):
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set display_name = '=HYPERLINK(\"http://x\")' where priority = 9"))
    data = to_csv(TransferService(engine, user_id=demo).export_rows())
    text = data.decode("utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf") and "'=HYPERLINK" in text
    assert read_file(data, "x.csv")[0].values  # parses


def test_dry_run_names_new_changed_unchanged_and_the_diff(engine, demo):
    service = TransferService(engine, user_id=demo)
    rows = service.export_rows()
    sdxl = next(r for r in rows if r["display_name"] == "SDXL 1.0")
    sdxl["pricing"] = {**sdxl["pricing"], "per_image": Decimal("0.0031")}
    sdxl["priority"] = 7
    new = {**sdxl, "model_key": "acme/new-model", "is_default": False, "display_name": "Brand new"}
    data = json.dumps({"models": [json.loads(to_json([sdxl]))["models"][0], json.loads(to_json([new]))["models"][0]]})
    plan = service.plan(data.encode(), "x.json")
    assert _statuses(plan) == {"model 1": "changed", "model 2": "new"}
    changed = {c.path: (c.before, c.after) for c in plan.rows[0].changes}
    assert changed == {"pricing.per_image": (Decimal("0.0023"), Decimal("0.0031")), "priority": (1, 7)}
    assert _snapshot(engine) == _snapshot(engine)  # a dry run writes nothing
    service.apply(data.encode(), "x.json", expected=plan.fingerprint())
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("select pricing->>'per_image', priority from api_models where display_name = 'SDXL 1.0'")
        ).one() == ("0.0031", 7)
        assert conn.execute(sa.text("select count(*) from api_models where model_key = 'acme/new-model'")).scalar() == 1


CSV_HEAD = "provider,model_key,version,display_name,modality,task,priority,is_default,is_active,pricing\n"


@pytest.mark.parametrize(
    ("body", "where", "field", "says"),
    [
        ("nobody,x/y,1,X,image,generation,1,false,true,{}", "line 2", "provider", "no provider is named 'nobody'"),
        ("replicate,x/y,1,X,image,generation,1,false,true,{broken", "line 2", "pricing", "is not valid JSON"),
        ("replicate,x/y,1,X,smell,generation,1,false,true,{}", "line 2", "modality", "must be one of"),
        ("replicate,x/y,1,X,image,generation,high,false,true,{}", "line 2", "priority", ""),
        ("replicate,x/y,1,X,image,generation,1,maybe,true,{}", "line 2", "is_default", "true or false"),
        ("replicate,,1,X,image,generation,1,false,true,{}", "line 2", "model_key", "is required"),
        ("replicate,x/y,1,,image,generation,1,false,true,{}", "line 2", "display_name", "is required"),
        (
            'replicate,x/y,1,X,image,generation,1,false,true,"{""per_image"": -1, ""currency"": ""USD"", '
            '""billing_unit"": ""per_image""}"',
            "line 2",
            "pricing.per_image",
            "non-negative",
        ),
        ("replicate,x/y,1,X\x01,image,generation,1,false,true,{}", "line 2", "display_name", "control characters"),
        ("replicate,x/y,1,X,image,generation,1,true,false,{}", "line 2", "is_default", "inactive model cannot"),
        ("legacy-diffusion,x/y,1,X,image,generation,1,true,true,{}", "line 2", "is_default", "is inactive"),
        ("replicate,x/y,1,X,image,generation,1,false,true", "line 2", "row", "has 9 cells"),
    ],
)
def test_every_problem_is_named_with_its_row_and_field(engine, demo, body, where, field, says):
    plan = TransferService(engine, user_id=demo).plan((CSV_HEAD + body + "\n").encode(), "x.csv")
    row = plan.rows[0]
    assert (row.where, row.status) == (where, "error")
    assert field in row.problems and says in row.problems[field], row.problems


def test_duplicate_keys_in_a_file_and_two_defaults_for_a_slot(engine, demo):
    body = (
        "replicate,x/y,1,X,image,generation,1,false,true,{}\n"
        "replicate,x/y,1,Y,image,generation,2,false,true,{}\n"
        "replicate,a/b,,A,audio,dub,1,true,true,{}\n"
        "replicate,c/d,,C,audio,dub,2,true,true,{}\n"
    )
    plan = TransferService(engine, user_id=demo).plan((CSV_HEAD + body).encode(), "x.csv")
    assert "the same provider, model_key and version as line 2" in plan.rows[1].problems["model_key"]
    assert "one default" in plan.rows[2].problems["is_default"] and "line 5" in plan.rows[2].problems["is_default"]
    assert _statuses(plan) == {"line 2": "new", "line 3": "error", "line 4": "error", "line 5": "error"}


def test_a_new_default_replaces_the_old_one_and_says_so(engine, demo):
    body = "replicate,acme/sdxl-2,2,SDXL 2,image,generation,1,true,true,{}\n"
    service = TransferService(engine, user_id=demo)
    plan = service.plan((CSV_HEAD + body).encode(), "x.csv")
    assert plan.ok and plan.rows[0].notes == ["replaces SDXL 1.0 as the default for image/generation"]
    said = [i.message for i in plan.impacts]
    assert "SDXL 2 becomes the default for image/generation, replacing SDXL 1.0" in said
    assert "routing (info): SDXL 2 becomes the default for image/generation, replacing SDXL 1.0" in describe_plan(plan)
    service.apply((CSV_HEAD + body).encode(), "x.csv")
    with engine.connect() as conn:
        defaults = (
            conn.execute(
                sa.text(
                    "select display_name from api_models where is_default and "
                    "modality = 'image' and task = 'generation'"
                )
            )
            .scalars()
            .all()
        )
    assert defaults == ["SDXL 2"]


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (b"", "x.csv", "the file is empty"),
        (b"provider,model_key,colour\nx,y,z\n", "x.csv", "unknown columns: 'colour'"),
        (b"display_name\nx\n", "x.csv", "missing columns: provider, model_key"),
        (b"provider,model_key,provider\n", "x.csv", "columns given twice: provider"),
        (b"provider,model_key\n", "x.csv", "the file has no models"),
        (b'{"models": [', "x.json", "the JSON is broken"),
        (b'{"rows": []}', "x.json", 'an object with a "models" list'),
        (b'"just text"', "x.json", '"models" must be a list'),
        (b"\xff\xfe\x00x", "x.csv", "not UTF-8"),
        (b"provider,model_key\n\x00,\x00\n", "x.csv", "NUL"),
        (b"[" * 100_000 + b"]" * 100_000, "x.json", "nested too deeply"),
    ],
)
def test_unreadable_files_are_refused_as_a_whole(engine, demo, data, name, says):
    with pytest.raises(ImportRefused, match=says):
        TransferService(engine, user_id=demo).plan(data, name)


def test_huge_files_are_refused_before_they_are_read(engine, demo):
    service = TransferService(engine, user_id=demo)
    with pytest.raises(ImportRefused, match="at most 20 MB"):
        service.plan(b"x" * (21 * 1024 * 1024), "x.csv")
    rows = "".join(f"replicate,k{i},,N,image,generation\n" for i in range(MAX_ROWS + 1))
    with pytest.raises(ImportRefused, match="at most 20,000"):
        service.plan(("provider,model_key,version,display_name,modality,task\n" + rows).encode(), "x.csv")


def test_hostile_json_values_are_named_and_change_nothing(engine, demo):
    before = _snapshot(engine)
    models = [
        {
            "provider": "replicate",
            "model_key": "x/1",
            "display_name": "<script>alert(1)</script>",
            "modality": "image",
            "task": "generation",
            "input_defaults": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
        },
        {
            "provider": "replicate",
            "model_key": "x/2",
            "display_name": "X",
            "modality": "image",
            "task": "x; drop",
            "pricing": "not an object",
        },
        {"provider": "replicate'; drop table api_models; --", "model_key": "x/3"},
        {
            "provider": "replicate",
            "model_key": "x/4",
            "display_name": "X",
            "modality": "image",
            "task": "t",
            "priority": 2**40,
        },
        ["not", "an", "object"],
        {"provider": "replicate", "model_key": "x/5", "colour": "red"},
    ]
    plan = TransferService(engine, user_id=demo).plan(json.dumps(models).encode(), "x.json")
    problems = {r.where: r.problems for r in plan.rows}
    assert any(k.startswith("input_defaults") and "nested" in v for k, v in problems["model 1"].items())
    assert {"task", "pricing"} <= set(problems["model 2"])
    assert "provider" in problems["model 3"] and "priority" in problems["model 4"]
    assert problems["model 5"] == {"row": "is not an object"} and "colour" in problems["model 6"]
    with pytest.raises(InvalidModel):
        TransferService(engine, user_id=demo).apply(json.dumps(models).encode(), "x.json")
    assert _snapshot(engine) == before


def test_everything_or_nothing(engine, demo):
    good = "replicate,acme/a,,A,image,generation,5,false,true,{}\n"
    bad = "replicate,acme/b,,B,image,generation,5,false,true,{nope\n"
    with pytest.raises(InvalidModel):
        TransferService(engine, user_id=demo).apply((CSV_HEAD + good + bad).encode(), "x.csv")
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where model_key like 'acme/%'")).scalar() == 0


def test_a_plain_user_cannot_import(engine, demo):
    viewer = make_user(engine)
    data = (CSV_HEAD + "replicate,acme/a,,A,image,generation,5,false,true,{}\n").encode()
    with pytest.raises(NotAllowed):
        TransferService(engine, user_id=viewer).apply(data, "x.csv")


def test_a_change_between_the_dry_run_and_apply_is_refused(engine, demo):
    service = TransferService(engine, user_id=demo)
    rows = service.export_rows()
    for row in rows:
        row["priority"] += 1
    data = to_json(rows).encode()
    plan = service.plan(data, "x.json")
    with engine.begin() as conn:
        conn.execute(sa.text("update api_models set priority = priority + 10 where display_name = 'SDXL 1.0'"))
    with pytest.raises(EditConflict):
        service.apply(data, "x.json", expected=plan.fingerprint())


def test_two_imports_at_once_leave_one_default_per_slot(engine, admin):
    provider = make_provider(engine, name="p")
    make_model(engine, provider, model_key="old", display_name="Old", is_default=True)
    files = [(CSV_HEAD + f"p,new-{i},,New {i},image,generation,1,true,true,{{}}\n").encode() for i in range(4)]
    _, errors = run_together(lambda data: TransferService(engine, user_id=admin).apply(data, "x.csv"), files)
    assert not errors, errors
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from api_models where is_default")).scalar_one() == 1


def test_progress_is_reported(engine, demo):
    seen = []
    rows = "".join(f"replicate,bulk/{i},,Bulk {i},image,generation,9,false,true,{{}}\n" for i in range(450))
    TransferService(engine, user_id=demo).apply(
        (CSV_HEAD + rows).encode(), "x.csv", progress=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (450, 450) and len(seen) >= 4


def test_export_filters(engine, demo):
    service = TransferService(engine, user_id=demo)
    assert {r["modality"] for r in service.export_rows(modality="audio")} == {"audio"}
    assert {r["provider"] for r in service.export_rows(provider="openai")} == {"openai"}
    assert all(r["is_active"] for r in service.export_rows(active_only=True))
    assert len(service.export_rows()) == 32


# ─── Hostile rows written in SQL (issue 12, items 2 and 4) ───────────────────────────────────────────
TEXT_COLUMNS = ("provider", "model_key", "version", "display_name", "model_family", "endpoint_path", "output_format")


def test_a_hostile_catalogue_exports_an_inert_csv_that_reads_back_exactly(engine, admin):
    hostile.write_hostile_catalogue(engine)
    rows = TransferService(engine, user_id=admin).export_rows()
    data = to_csv(rows)
    assert hostile.csv_problems(data) == []
    read = read_file(data, "x.csv")
    assert len(read) == len(rows) == len(hostile.STORABLE)
    for row, source in zip(rows, read, strict=True):
        assert {c: source.values[c] for c in TEXT_COLUMNS} == {c: row[c] for c in TEXT_COLUMNS}
        assert exact(source.values["input_defaults"]) == row["input_defaults"]


def test_a_hostile_catalogue_exports_json_that_shows_what_it_holds_and_reads_back_exactly(engine, admin):
    hostile.write_hostile_catalogue(engine)
    rows = TransferService(engine, user_id=admin).export_rows()
    document = to_json(rows)
    assert hostile.hidden_in(document, allow="\n") is None  # \u202e and friends are written as escapes
    models = json.loads(document)["models"]
    assert [{c: m[c] for c in TEXT_COLUMNS} for m in models] == [{c: r[c] for c in TEXT_COLUMNS} for r in rows]


def test_formulas_and_markdown_in_names_round_trip_through_csv_unchanged(engine, demo):
    names = [n for n in (*hostile.FORMULAS, *hostile.MARKDOWN) if n == n.strip() and hostile.hidden_in(n) is None]
    provider = make_provider(engine, name="acme")
    for n, name in enumerate(names):
        make_model(engine, provider, display_name=name, model_key=f"k{n}", model_family=name, endpoint_path=name)
    service = TransferService(engine, user_id=demo)
    before = _snapshot(engine)
    data = to_csv(service.export_rows(provider="acme"))
    assert hostile.csv_problems(data) == []
    plan = service.plan(data, "x.csv")
    assert plan.ok and plan.count("unchanged") == len(names) and not plan.writes
    assert _snapshot(engine) == before


def test_names_with_hidden_characters_are_refused_by_an_import_by_name(engine, demo):
    body = "".join(
        f'replicate,"acme/{n}",,"{text}",image,generation,5,false,true,{{}}\n' for n, text in enumerate(hostile.HIDDEN)
    )
    plan = TransferService(engine, user_id=demo).plan((CSV_HEAD + body).encode(), "x.csv")
    assert plan.count("error") == len(hostile.HIDDEN)
    assert all(r.problems["display_name"].startswith("contains control characters") for r in plan.rows)


def test_the_dry_run_says_what_the_import_does_to_routing_worst_first(engine, demo):
    service = TransferService(engine, user_id=demo)
    flux = b"provider,model_key,version,priority\nreplicate,black-forest-labs/flux-1.1-pro,1.1,0\n"
    plan = service.plan(flux, "x.csv")
    assert plan.ok and plan.impacts[0].severity == "warning"
    assert plan.impacts[0].message.startswith("image/generation now routes to Flux 1.1 Pro instead of its default")
    hidden = f"replicate,'{hostile.FORMULA},,{hostile.SCRIPT},image,generation,0,false,false,{{}}\n"  # inactive
    assert TransferService(engine, user_id=demo).plan((CSV_HEAD + hidden).encode(), "x.csv").impacts == []
    unchanged = service.plan(to_csv(service.export_rows()), "x.csv")
    assert unchanged.ok and not unchanged.writes and unchanged.impacts == []


def test_the_dry_run_text_spells_flags_true_and_false(engine, demo):
    sdxl = "stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"
    body = f"provider,model_key,version,is_active,is_default,display_name\nreplicate,{sdxl},1.0,no,0,{hostile.SQL}\n"
    text = describe_plan(TransferService(engine, user_id=demo).plan(body.encode(), "x.csv"))
    assert "    is_active: true -> false" in text and "    is_default: true -> false" in text
    assert f"    display_name: SDXL 1.0 -> {hostile.SQL}" in text
    assert "True" not in text and "False" not in text


# ─── The Models page's export: with ids and timestamps, and still what import reads ───────────────
@pytest.mark.parametrize("kind", ["json", "csv"])
def test_the_models_page_export_with_ids_and_times_imports_back_unchanged(engine, demo, kind):
    from dashboard.services.catalogue import CatalogueService, ModelFilters

    rows = CatalogueService(engine, user_id=demo).export_models(ModelFilters())
    data = to_json(rows, record=True).encode() if kind == "json" else to_csv(rows, record=True)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("select id::text, updated_at from api_models")).all())
    if kind == "csv":
        read = hostile.csv_rows(data)
        assert list(read[0])[-3:] == ["id", "created_at", "updated_at"]
    else:
        read = json.loads(data)["models"]
    assert {r["id"] for r in read} == set(stored)
    assert all(datetime.fromisoformat(r["updated_at"]) == stored[r["id"]] for r in read)
    before = _snapshot(engine)
    service = TransferService(engine, user_id=demo)
    plan = service.plan(data, f"models.{kind}")
    assert plan.ok and plan.count("unchanged") == 32 and not plan.writes  # the extra columns are ignored
    service.apply(data, f"models.{kind}", expected=plan.fingerprint())
    assert _snapshot(engine) == before


def test_record_columns_in_a_file_are_ignored_even_when_hostile(engine, demo):
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["provider", "model_key", "display_name", "modality", "task", "created_at", "updated_at", "id"])
    values = [v for v in hostile.URL_VALUES if "\x00" not in v]
    writer.writerows(
        ["replicate", f"acme/x{n}", f"X {n}", "image", "generation", v, v, v] for n, v in enumerate(values)
    )
    plan = TransferService(engine, user_id=demo).plan(out.getvalue().encode(), "models.csv")
    assert plan.ok and plan.count("new") == len(values), [r.problems for r in plan.rows if r.problems]
