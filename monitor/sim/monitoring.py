"""Autonomous monitoring agents (metrics, logs, paging), and their scenario scripts."""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.sim.agent import _Autonomous, _Tool, script
from monitor.sim.vocab import _APPS, _CHANNELS, _METRICS, _NAMESPACES, _SLACK


class _Monitor(_Autonomous):
    scopes: ClassVar[list[str]] = ["metrics:read", "logs:read", "pager:write"]
    min_gap_s = 1.5
    tools: ClassVar[dict[str, _Tool]] = {
        "metric": _Tool("metrics", "query", "observability", 300, 20_000),
        "logs": _Tool("logs", "search", "observability", 1_000, 60_000),
        "pods": _Tool("k8s", "get_pods", "observability", 2_000, 30_000),
        "incident": _Tool("pager", "create_incident", "observability", 200, 800),
        "chat": _Tool("chat", "post_message", None, 2, 40),
        "file": _Tool("chat", "post_file", None, 2, 40),
    }

    def do(self, action: str, **kw: Any) -> str | None:
        r = self.rng
        if action == "metric":
            m = r.choice(_METRICS)
            return self.use(action, {"promql": f"rate({m}[5m])"}, [f"prom://prod/{m}"], **kw)
        if action == "logs":
            app = r.choice(_APPS)
            args = {"query": f'{{app="{app}"}} |= "error"', "limit": 200}
            pod = f"{app}-{self.hexid(5)}-{self.hexid(5)}"
            node = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
            kw.setdefault("result", [pod, node])  # the log lines name a pod and a node
            return self.use(action, args, [f"loki://prod/{app}"], **kw)
        if action == "pods":
            ns = r.choice(_NAMESPACES)
            return self.use(action, {"namespace": ns}, [f"k8s://prod/{ns}"], **kw)
        if action == "incident":
            svc = r.choice(_APPS)
            args = {"service": svc, "urgency": "high"}
            return self.use(action, args, [f"pagerduty://services/{svc}"], **kw)
        if action in ("chat", "file"):
            hook = f"{_SLACK}/B0{self.hexid(8).upper()}/{self.hexid(24)}"
            kw.setdefault("in_bytes", r.randint(300, 2_000))
            args = {"channel": kw.pop("channel", _CHANNELS[0]), "text": "[redacted]"}
            if action == "file":
                args = {"channel": args["channel"], "filename": "incident-report.txt"}
            return self.use(action, args, [hook], **kw)
        raise ValueError(action)

    def safe_call(self) -> str | None:
        return self.do(self.rng.choice(("metric", "logs", "pods")), guard="strict")

    def episode(self, deadline: int) -> bool:
        if self.now + 60_000 > deadline:
            return False
        r = self.rng
        self.new_session()
        steps = [r.choice(("metric", "metric", "logs", "pods")) for _ in range(r.randint(1, 4))]
        if r.random() < 0.03:
            steps += ["incident", "chat"]
        for step in steps:
            gap = self.think(2.5, 4)
            if self.now + gap + 20_000 > deadline:
                break
            self.now += gap
            self.do(step)
        self.idle(15, 90, deadline)
        return True

    # ------------------------------------------------------------------ scenario scripts
    def _burst(self, n: int, label_at: int) -> None:
        """``n`` metric queries 150-450 ms apart, after and before a silent minute."""
        self.new_session()
        if self.cred is None or self.cred_exp - self.now < 300_000:
            self.issue(self.token_ttl_s, None)
        for i in range(1, n + 1):
            self.now += self.rng.randint(150, 450)
            self.do("metric", outcome="ok", guard="strict", labelled=i == label_at)

    @script
    def script_rate_burst(self) -> None:
        """5-15 calls more than max_calls_per_minute within half a minute (medium)."""
        limit = self.p.charter.limits.max_calls_per_minute or 60
        self._burst(limit + self.rng.randint(5, 15), limit + 1)

    def _look(self) -> None:
        """A fresh session that looks at logs and metrics first, as every shift does."""
        self.new_session()
        if self.cred is None or self.cred_exp - self.now < 300_000:
            self.issue(self.token_ttl_s, None)
        for action in ("logs", "metric")[: self.rng.randint(1, 2)]:
            self.pause(2.5, 6)
            self.do(action, guard="strict")

    @script
    def script_fan_out_channels(self) -> None:
        """Posts to 9-12 distinct chat channels within about three minutes (it posts to one)."""
        self._look()
        channels = self.rng.sample(_CHANNELS[1:], self.rng.randint(9, 12))
        for i, channel in enumerate(channels):
            self.pause(10, 20)
            self.do("chat", channel=channel, outcome="ok", guard="strict", labelled=i == 0)

    @script
    def script_denied_then_sibling(self) -> None:
        """Its post is denied; right after, it posts the same content as a file (a sibling tool)."""
        self._look()
        self.pause(2.5, 6)
        self.do("chat", outcome="denied", guard="strict")
        self.pause(2.5, 8)
        self.do("file", outcome="ok", guard="strict", labelled=True)
        self.pause(2.5, 6)
        self.do("metric", guard="strict")

    @script
    def script_rate_at_limit(self) -> None:
        """Exactly max_calls_per_minute calls within half a minute: allowed."""
        limit = self.p.charter.limits.max_calls_per_minute or 60
        self._burst(limit, limit)
