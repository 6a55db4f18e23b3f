"""Helpers shared by the corpus converter tests."""

from __future__ import annotations

import orjson

from monitor.corpora.base import Corpus


def corpus_bytes(c: Corpus) -> bytes:
    """Everything a converter produced, as bytes: equal bytes, equal conversion."""
    return orjson.dumps([c.events, [s.to_dict() for s in c.sessions], c.charters])
