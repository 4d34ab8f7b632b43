"""usage_past._summed: a kept copy's counts plus the fresh part's, per model, as DataFrame.add with fill 0 gave them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.queries import usage as q
from dashboard.services.usage_past import _summed

NAMES = list(q.SUM_NAMES)


def _frame(rows: dict[str, list[int]], columns: list[str] = NAMES) -> pd.DataFrame:
    values = np.array([rows[m] for m in rows], dtype=np.int64).reshape(len(rows), len(NAMES))
    frame = pd.DataFrame(values, columns=NAMES, index=pd.Index(list(rows), name="model_id"))
    return frame[columns]


def _by_add(kept: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    total = kept.add(fresh, fill_value=0)
    return total[total["total_jobs"] != 0].astype("int64").reset_index()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("model_id").reset_index(drop=True)


def _row(total: int) -> list[int]:
    return [total, *range(1, len(NAMES))]


@pytest.mark.parametrize(
    "kept, fresh",
    [
        ({"a": _row(5), "b": _row(3), "c": _row(2)}, {"b": _row(4), "d": _row(1)}),  # added to, and a new model
        ({"a": _row(5), "c": _row(2)}, {"c": [-2] + [0] * (len(NAMES) - 1)}),  # down to zero jobs: left out
        ({}, {"x": _row(1)}),  # nothing kept
        ({"a": _row(5)}, {}),  # nothing fresh
        ({}, {}),
        ({"'; drop table jobs; --": _row(1), "é\u202e": _row(2)}, {"é\u202e": _row(3), "<script>": _row(1)}),
    ],
)
def test_the_sum_is_what_dataframe_add_gave(kept, fresh):
    kept_frame, fresh_frame = _frame(kept), _frame(fresh)
    before = kept_frame.copy()
    summed = _summed(kept_frame, fresh_frame)
    pd.testing.assert_frame_equal(_sorted(summed), _sorted(_by_add(kept_frame, fresh_frame)))
    assert list(summed.columns) == ["model_id", *NAMES] and (summed.dtypes[NAMES] == np.int64).all()
    pd.testing.assert_frame_equal(kept_frame, before)  # the kept copy is never written to


def test_fresh_columns_in_another_order_are_matched_by_name():
    kept = _frame({"a": _row(5)})
    fresh = _frame({"a": _row(1)}, columns=list(reversed(NAMES)))
    assert _summed(kept, fresh).loc[0, "total_jobs"] == 6
