"""slot_grid: the Defaults page's modality × task grid, with every gap marked."""

from uuid import uuid4

from dashboard.services.catalogue import Slot, slot_cell, slot_grid, slot_of


def slot(
    modality="image",
    task="generation",
    *,
    models=None,
    active=3,
    candidates=3,
    default="SDXL 1.0",
    default_active=True,
    provider_active=True,
) -> Slot:
    """A slot built by the routing rules from models that give these counts (the default first in the routing
    order when it can take jobs, so that it is picked)."""

    def model(name, *, is_default=False, is_active=True, on=True, priority=1):
        return {
            "id": uuid4(),
            "display_name": name,
            "priority": priority,
            "is_default": is_default,
            "is_active": is_active,
            "provider_active": on,
            "provider_name": "Legacy",
        }

    models = models or max(3, active)
    rows = []
    if default:
        rows.append(model(default, is_default=True, is_active=default_active, on=provider_active, priority=0))
    for n in range(models - len(rows)):
        rows.append(model(f"Other {n}", priority=n + 1))
    # Switch models off until the counts match: first whole models, then providers.
    able = lambda m: m["is_active"] and m["provider_active"]  # noqa: E731
    others = [m for m in rows if not m["is_default"]]
    for m in others[: max(0, sum(m["is_active"] for m in rows) - active)]:
        m["is_active"] = False
    for m in [m for m in others if m["is_active"]][: max(0, sum(able(m) for m in rows) - candidates)]:
        m["provider_active"] = False
    built = slot_of(modality, task, rows)
    assert (built.models, built.active_models, built.candidates) == (models, active, candidates)
    return built


def test_a_healthy_slot_names_its_default_and_candidates():
    assert slot_cell(slot(candidates=5, active=5)) == "SDXL 1.0 · 5"
    assert slot_cell(slot(candidates=1, active=1)) == "SDXL 1.0 · 1"


def test_models_on_an_inactive_provider_are_counted_apart():
    assert slot_cell(slot(active=5, candidates=4)) == "SDXL 1.0 · 4"


def test_every_gap_is_marked():
    assert slot_cell(slot(default=None, candidates=2, active=2)) == "⚠ no default · 2"
    assert slot_cell(slot(default=None, active=0, candidates=0)) == "⚠ no active model"
    assert slot_cell(slot(default=None, active=2, candidates=0)) == "⚠ all providers off"
    inactive = slot(default="Old", default_active=False, active=2, candidates=2)
    assert slot_cell(inactive) == "⚠ inactive: Old · 2"
    provider_off = slot(default="X", provider_active=False, active=3, candidates=2)
    assert slot_cell(provider_off) == "⚠ provider off: X · 2"


def test_rows_are_tasks_and_columns_are_modalities_in_order():
    grid = slot_grid(
        [
            slot("audio", "tts", default="Eleven"),
            slot("image", "generation"),
            slot("text", "generation", default="GPT-4o"),
        ]
    )
    assert list(grid.columns) == ["task", "text", "image", "video", "audio"]
    assert list(grid["task"]) == ["generation", "tts"]
    by_task = grid.set_index("task")
    assert by_task.loc["generation", "text"] == "GPT-4o · 3"
    assert by_task.loc["generation", "image"] == "SDXL 1.0 · 3"
    assert by_task.loc["generation", "video"] == ""  # no such slot: empty, not NaN
    assert by_task.loc["tts", "audio"] == "Eleven · 3"


def test_names_are_kept_literally():
    hostile = "[x](javascript:alert(1)) <b>bold</b>"
    assert slot_cell(slot(default=hostile)) == f"{hostile} · 3"


def test_an_empty_catalogue_gives_an_empty_grid_with_the_modality_columns():
    grid = slot_grid([])
    assert grid.empty
    assert list(grid.columns) == ["task", "text", "image", "video", "audio"]


def test_a_default_routing_passes_over_is_marked_in_the_grid_and_warned_about():
    from dashboard.services.catalogue import slot_warnings

    def model(name, priority, *, default=False):
        return {
            "id": uuid4(),
            "display_name": name,
            "priority": priority,
            "is_default": default,
            "is_active": True,
            "provider_active": True,
            "provider_name": "Replicate",
        }

    sdxl, flux, other = model("SDXL 1.0", 1, default=True), model("Flux Schnell", 0), model("Other", 2)
    passed_over = slot_of("image", "generation", [sdxl, flux, other])
    assert passed_over.default_passed_over and passed_over.picked_name == "Flux Schnell"
    assert slot_cell(passed_over) == "⚠ passed over: SDXL 1.0 · 3"
    assert [w.message for w in slot_warnings([passed_over])] == [
        "Routing does not pick the default for image/generation, SDXL 1.0: Flux Schnell comes first (a lower "
        "priority number, 0 < 1)"
    ]
    picked = slot_of("image", "generation", [sdxl, {**flux, "priority": 1}, other])  # equal: the default first
    assert not picked.default_passed_over
    assert slot_cell(picked) == "SDXL 1.0 · 3" and slot_warnings([picked]) == []
