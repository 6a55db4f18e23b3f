"""The revoker: carries revocation commands out, acks each one per actuator.

Layout, pure core to thin shells:

* :mod:`~monitor.revoker.plan` — pure: observe / skip / apply, what a command
  targets, the failure alert, the poll bound; the bounded exponential retry
  schedule is :class:`monitor.retry.RetryPolicy` (the sink's too).
* :mod:`~monitor.revoker.ledger` — the applied-set (idempotence by
  ``command_id`` and actuator), durable in Redis; why Redis is explained there.
* :mod:`~monitor.revoker.actuators` — one small class per target system behind
  one Protocol: ``denylist`` (Redis), ``oauth`` (RFC 7009), ``webhook``
  (HMAC-signed), ``vault`` (lease revoke / revoke-prefix).
* :mod:`~monitor.revoker.revoker` — runs a command through every actuator with
  retries; time and sleep passed in.
* :mod:`~monitor.revoker.service` — the Kafka loop (:func:`monitor.consume.run_loop`:
  at-least-once; commit after the acks are confirmed); :mod:`~monitor.revoker.command` — ``mcpmon revoker``.

Decisions:

* **Observe mode** acks ``applied`` with detail ``"observe: not applied; would
  revoke ..."``: the command was handled as its mode asks, and consumers that
  only know the three statuses do not see a failure. Nothing is touched and
  nothing is recorded in the ledger.
* **Failure**: after ``revoker_retry_attempts`` retryable failures, or at once
  on a final one (HTTP 4xx other than 408/429, bad configuration), the ack is
  ``failed`` with the last error and attempt count, and an
  :class:`~monitor.output_contracts.Alert` with detector ``revocation_failed``, severity
  ``critical``, id derived from command_id + actuator, goes to ``mcp.alerts``.
  The command is not recorded as applied, so a later redelivery tries again.
* **Idempotence** is per (command_id, actuator), recorded after success: a
  redelivered command is acked ``already_applied`` by every actuator that had
  applied it, and re-tried by those that had not.
"""
