"""GC pauses measured for the stats line; restored state frozen out of the collector's walk."""

from __future__ import annotations

import gc

from monitor.worker.gcpause import GcPauses, settle


def test_pauses_are_counted_per_generation_and_reset_when_taken() -> None:
    pauses = GcPauses().install()
    try:
        pauses.install()  # once only
        assert gc.callbacks.count(pauses._callback) == 1
        gc.collect()
        got = pauses.take()
        assert got["gc2_collections"] >= 1 and got["gc2_max_ms"] >= 0.0
        assert pauses.take()["gc2_collections"] == 0
    finally:
        gc.callbacks.remove(pauses._callback)


def test_settle_freezes_what_is_alive() -> None:
    keep = [{"agent": i} for i in range(1000)]
    try:
        settle()
        assert gc.get_freeze_count() >= len(keep)
    finally:
        gc.unfreeze()
