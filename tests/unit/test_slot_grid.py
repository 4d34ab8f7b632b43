"""slot_grid: the Defaults page's modality × task grid, with every gap marked."""

from uuid import uuid4

from dashboard.services.catalogue import Slot, slot_cell, slot_grid


def slot(modality="image", task="generation", *, models=3, active=3, candidates=3, default="SDXL 1.0",
         default_active=True, provider_active=True) -> Slot:  # fmt: skip
    return Slot(modality=modality, task=task, models=models, active_models=active, candidates=candidates,
                default_id=uuid4() if default else None, default_name=default, default_active=default_active,
                default_provider_active=provider_active)  # fmt: skip


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
    grid = slot_grid([slot("audio", "tts", default="Eleven"), slot("image", "generation"),
                      slot("text", "generation", default="GPT-4o")])  # fmt: skip
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
    from dataclasses import replace

    from dashboard.services.catalogue import slot_warnings

    passed_over = slot(default="SDXL 1.0", candidates=3)
    passed_over = replace(passed_over, picked_id=uuid4(), picked_name="Flux Schnell")
    assert slot_cell(passed_over) == "⚠ passed over: SDXL 1.0 · 3"
    assert [w.message for w in slot_warnings([passed_over])] == [
        "Routing does not pick the default for image/generation, SDXL 1.0: Flux Schnell comes first (a lower "
        "priority number)"
    ]
    picked = replace(passed_over, picked_id=passed_over.default_id, picked_name="SDXL 1.0")
    assert slot_cell(picked) == "SDXL 1.0 · 3" and slot_warnings([picked]) == []
