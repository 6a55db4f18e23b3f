"""The gateway tap: gateway logs in, ``mcp.events`` out (``mcpmon tap``).

A thin shell that maps formats and moves bytes; it holds no detection logic.
Modules, one concept each:

- :mod:`~monitor.tap.lines` — what flows: ``Line`` in; ``Mapped``, ``Dead``,
  ``Skipped`` out.
- :mod:`~monitor.tap.formats` — one module per log format behind one small
  interface, and the registry ``--format`` picks from (``ours``, ``jsonrpc``;
  gateway presets slot in as one module each).
- :mod:`~monitor.tap.mapping`, :mod:`~monitor.tap.paths` — the ``--mapping``
  file: dotted paths per target field, defaults.
- :mod:`~monitor.tap.pairing` — the bounded request/response pairing window.
- :mod:`~monitor.tap.reader` — file (``--follow``: rotation, truncation) and
  stdin sources with byte offsets.
- :mod:`~monitor.tap.writers` — Kafka (idempotent producer, ``acks=all``) and
  file outputs; :mod:`~monitor.tap.checkpoint` — the resume point, written
  only after delivery is confirmed.
- :mod:`~monitor.tap.run` — the loop and its summary;
  :mod:`~monitor.tap.build` — wiring from settings;
  :mod:`~monitor.tap.command` — the CLI sub-command;
  :mod:`~monitor.bench.tap` — ``bench_tap`` (``mcpmon bench tap``).

Formats, mapping and pairing are pure (no I/O, time passed in) and tested on
their own in ``tests/tap/``; the whole path runs against the real broker in
``tests/integration/test_tap*.py``.
"""
