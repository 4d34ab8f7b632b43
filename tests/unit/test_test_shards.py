"""CI's two halves (TEST_SHARD, tests/conftest.py): every test file in exactly one share, the browser files in the
first, the rest balanced."""

from tests.conftest import deal

COSTS = {"tests/browser/b.py": 60.0, "tests/app/a.py": 40.0, "tests/app/c.py": 30.0, "tests/unit/u.py": 0.5}
COSTS |= {f"tests/integration/i{n}.py": float(n % 7 + 1) for n in range(40)}


def test_every_file_has_one_share_and_the_browser_ones_the_first():
    share = deal(COSTS, {"tests/browser/b.py"}, 2)
    assert set(share) == set(COSTS) and set(share.values()) == {0, 1}
    assert share["tests/browser/b.py"] == 0


def test_the_shares_cost_about_the_same_and_are_the_same_every_time():
    share = deal(COSTS, {"tests/browser/b.py"}, 2)
    loads = [sum(cost for path, cost in COSTS.items() if share[path] == k) for k in (0, 1)]
    assert abs(loads[0] - loads[1]) <= max(COSTS.values())
    assert deal(dict(reversed(COSTS.items())), {"tests/browser/b.py"}, 2) == share
