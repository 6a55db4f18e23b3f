"""The benchmarks behind ``mcpmon bench``: every figure beside a baseline from the same run.

One module per benchmark, the measuring helpers once:

- :mod:`~monitor.bench.timing` — wall and CPU timers, the orjson decode-only baseline;
- :mod:`~monitor.bench.replay` — ``bench replay``: the rule engine's events/s;
- :mod:`~monitor.bench.baseline` — ``bench baseline``: the behaviour layer's cost and memory;
- :mod:`~monitor.bench.models` — ``bench models``: the counting baseline beside river's models;
- :mod:`~monitor.bench.tap` — ``bench tap``: lines/s per gateway-log format;
- :mod:`~monitor.bench.proxy` — ``bench proxy``: a charter decision beside the forward it guards;
- :mod:`~monitor.bench.broker` — what the broker benchmarks share (topics, worker, keys);
- :mod:`~monitor.bench.kafka` — ``bench kafka``: the worker end to end on a real broker;
- :mod:`~monitor.bench.soak` — ``bench soak``: sustained load with a worker restart;
- :mod:`~monitor.bench.command` — the sub-command (imports nothing heavy).
"""
