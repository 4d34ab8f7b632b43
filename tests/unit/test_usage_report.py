"""The Usage page's model search: literal, any case, a short list however many models there are."""

import pandas as pd
import pytest

from dashboard.ui.usage_report import MODEL_MATCHES, find_models
from tests import hostile


def _catalogue(names: list[str], provider: str = "Replicate") -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "model_id": [f"{i:08d}-0000-0000-0000-000000000000" for i in range(len(names))],
            "display_name": names,
            "provider_name": provider,
        }
    )
    frame["label"] = frame["display_name"] + " (" + frame["provider_name"] + ")"
    frame["search"] = frame["label"].str.casefold()
    return frame.sort_values(["display_name", "provider_name", "model_id"]).reset_index(drop=True)


def test_a_search_finds_names_and_providers_in_any_case():
    models = _catalogue(["SDXL 1.0", "Flux 1.1 Pro", "sdxl turbo"])
    assert list(find_models(models, "SDXL")["display_name"]) == ["SDXL 1.0", "sdxl turbo"]
    assert len(find_models(models, "replicate")) == 3
    assert list(find_models(models, "  flux ")["display_name"]) == ["Flux 1.1 Pro"]


def test_an_empty_search_offers_the_first_models_by_name_never_all_of_them():
    models = _catalogue([f"Model {i:05d}" for i in range(10_000)])
    found = find_models(models, "")
    assert len(found) == MODEL_MATCHES and found["display_name"].iloc[0] == "Model 00000"
    assert len(find_models(models, "model 0")) == MODEL_MATCHES


@pytest.mark.parametrize("text", [*hostile.STORABLE, *hostile.TEXT, ".*", "[", "(", "\\", "%", "_", hostile.NUL])
def test_hostile_search_text_is_taken_literally(text):
    models = _catalogue([*hostile.STORABLE, *hostile.TEXT, "plain"])
    found = find_models(models, text)
    wanted = text.strip().casefold()
    assert all(wanted in label.casefold() for label in found["label"])
    if wanted and any(wanted in name.casefold() for name in models["display_name"]):
        assert len(found)  # a name that holds the text is found, whatever characters it has
