"""SIEM sinks: ``mcpmon sink`` delivers ``mcp.alerts`` to where the SOC looks.

* :mod:`~monitor.sinks.formats` — pure: Alert → OCSF Detection Finding (dict),
  CEF (str), Splunk HEC body (dict), RFC 5424 syslog line.
* :mod:`~monitor.sinks.transports` — one small class per target behind one
  Protocol: JSON-lines file (OCSF), syslog over UDP / TCP (octet counting,
  RFC 6587), HTTP JSON POST to a Splunk HEC endpoint (httpx).
* :mod:`~monitor.sinks.service` — the Kafka loop (:func:`monitor.consume.run_loop`,
  the revoker's too): at-least-once, an alert's offset is committed only after
  its delivery succeeded; failed deliveries are retried with capped exponential
  backoff (:class:`monitor.retry.RetryPolicy`) and never committed.
* :mod:`~monitor.sinks.exceptions` — ``DeliveryError``, ``Undeliverable`` under
  ``SinkError`` (the package's one root, :class:`monitor.errors.MonitorError`).
* :mod:`~monitor.sinks.command` — ``mcpmon sink --to ocsf-file|cef-syslog|splunk-hec``.

Field mappings: docs/siem.md.
"""
