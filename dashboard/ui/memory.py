"""The web server's garbage collector, set for a process that keeps large reads in memory.

Python's cyclic collector looks at every tracked object of the oldest generation whenever enough new objects have
survived into it. A server process holds about 200,000 of them once the pages have run (Streamlit, pandas, Plotly,
the kept reads of the catalogue), and a Usage click at 10,000 models allocates tens of thousands more: every
fourth click then paid a full collection of 70-85 ms (measured with gc.callbacks in AppTest). settle() runs once
at start: it imports what every page uses, moves everything then alive out of the collector's sight (gc.freeze;
reference counting still frees it), and lets the youngest generation grow to YOUNG objects before a collection, so
that a click's short-lived objects are freed by reference counting before any collection looks at them.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # new container objects before the youngest generation is collected (Python's default: 700)
OLDER = 20  # collections of a generation before the next one is collected too (default: 10)


def settle() -> None:
    """Import the pages' libraries, freeze what is alive, and set the collector's thresholds (once, at start)."""
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401

    import dashboard.services  # noqa: F401

    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, OLDER, OLDER)
