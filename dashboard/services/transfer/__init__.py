"""Export and import the catalogue: the files (formats), the dry run (plan, with its defaults and routing in
defaults) and writing it (apply). What pages, the CLI, tests and benches import is re-exported here."""

from dashboard.services.errors import ImportRefused
from dashboard.services.transfer.apply import TransferService, write_plan
from dashboard.services.transfer.formats import (
    COLUMNS,
    FORMAT,
    KEY_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    Key,
    SourceRow,
    dumps_exact,
    loads_exact,
    read_file,
    to_csv,
    to_json,
)
from dashboard.services.transfer.plan import ImportPlan, PlanRow, Progress, describe_plan, plan_rows

__all__ = [
    "COLUMNS",
    "FORMAT",
    "KEY_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "ImportPlan",
    "ImportRefused",
    "Key",
    "PlanRow",
    "Progress",
    "SourceRow",
    "TransferService",
    "describe_plan",
    "dumps_exact",
    "loads_exact",
    "plan_rows",
    "read_file",
    "to_csv",
    "to_json",
    "write_plan",
]
