"""The serving process's heap and the cyclic garbage collector.

A worker holds its deployed configuration (parsed artifacts, compiled XPath and JSONPath, lxml documents) for as
long as it serves it: tens of MB of objects that a full (generation 2) collection would walk every time, in one
pause of the event loop. After each deployment the serving process collects once and moves every live object
into the permanent generation (`gc.freeze`), which collections skip; the objects requests create are collected as
before. A hot redeployment first unfreezes: the configuration it replaced then becomes collectable garbage
(frozen objects in reference cycles would otherwise be kept for ever), and the new one is frozen in its turn.
"""

from __future__ import annotations

import gc
from typing import Any


def freeze_deployed() -> None:
    """Collect the garbage of the previous configuration, then freeze what is live (the new one)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def heap_report() -> dict[str, Any]:
    """For /healthz: the objects frozen out of the collector, and collections per generation since start."""
    return {"frozen": gc.get_freeze_count(), "collections": [gen["collections"] for gen in gc.get_stats()]}
