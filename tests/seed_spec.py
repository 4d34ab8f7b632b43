"""The seed file read as data: its columns, policies, queries and indexes are the contract."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SEED_DIR


@dataclass(frozen=True)
class SeedColumn:
    name: str
    type: str
    nullable: bool
    default: str | None


def seed_text() -> str:
    files = sorted(SEED_DIR.glob("*.txt"))
    if not files:
        pytest.fail(f"the seed spec is not in {SEED_DIR}; set SEED_DIR to the folder holding it")
    return Path(files[0]).read_text(encoding="utf-8")


def _section(title: str) -> str:
    text = seed_text()
    start = text.index(f"## **{title}**")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def seed_columns() -> list[SeedColumn]:
    pattern = re.compile(r"^- (\w+) \((.*?)\) - ", re.M)
    columns = []
    for name, spec in pattern.findall(_section("Schema")):
        parts = [p.strip() for p in spec.split(",")]
        default = next((p.split(":", 1)[1].strip() for p in parts if p.startswith("default:")), None)
        columns.append(
            SeedColumn(name, parts[0], nullable="NOT NULL" not in parts and "pk" not in parts, default=default)
        )
    return columns


def seed_sql_blocks(title: str) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", _section(title), re.S)


PLACEHOLDER_PROVIDER = "provider-uuid-here"


def seed_queries() -> dict[str, str]:
    """The common queries by their comment line, each exactly as written."""
    block = seed_sql_blocks("Common Queries")[0]
    queries = {}
    for chunk in re.split(r"\n(?=-- )", block.strip()):
        comment, _, sql = chunk.partition("\n")
        queries[comment.removeprefix("-- ").strip()] = sql.strip()
    return queries


def seed_index_statements() -> list[str]:
    return [line for line in seed_sql_blocks("Indexing Recommendations")[0].splitlines() if line.startswith("CREATE")]


def seed_policies() -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", seed_sql_blocks("RLS Policies")[0]) if "CREATE POLICY" in p]
