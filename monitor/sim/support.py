"""Delegated support assistants: customer tickets by email, and their scenario scripts."""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.sim.agent import _Delegated, _Item, _Tool, script
from monitor.sim.plan import AgentPlan
from monitor.sim.vocab import _FIRST, _FOREIGN_TENANT, _FREE_MAIL, _KB, _LAST, _TENANTS, iban


class _Support(_Delegated):
    task_prefix = "SUP"
    scopes: ClassVar[list[str]] = ["tickets:rw", "crm:read", "mail:send"]
    ttl_choices = (1200, 1800)
    min_gap_s = 3.0
    tools: ClassVar[dict[str, _Tool]] = {
        "ticket": _Tool("helpdesk", "get_ticket", "support", 800, 12_000),
        "customer": _Tool("crm", "lookup_customer", "customer", 400, 3_000),
        "kb": _Tool("kb", "search_articles", None, 1_000, 9_000),
        "note": _Tool("helpdesk", "add_note", "support", 50, 200),
        "email": _Tool("email", "send_email", "support", 60, 200),
        "update": _Tool("helpdesk", "update_ticket", "support", 60, 300),
        "refund": _Tool("billing", "issue_refund", "customer", 80, 300),
        "export": _Tool("admin", "export_customers", "customer", 0, 0),
    }

    def __init__(self, p: AgentPlan, start_ms: int, end_ms: int, labels: list[_Item]) -> None:
        super().__init__(p, start_ms, end_ms, labels)
        self.tenant = _TENANTS[0]
        self.ticket = 0
        self.customer = 0
        self.requester = ""
        self.order = ""
        self.on_file = ""  # the customer's account on file (CRM)
        self.injected: list[str] = []  # values an injected ticket body carries

    def open_ticket(self, ttl_s: float | None = None) -> None:
        r = self.rng
        self.tenant = r.choice(_TENANTS)
        self.ticket = r.randint(10_000, 99_999)
        self.customer = r.randint(1_000, 60_000)
        # Customers write from their company or from free mail: a free-mail reply is ordinary.
        domain = r.choice(_FREE_MAIL) if r.random() < 0.4 else f"{self.tenant}.example"
        self.requester = f"{r.choice(_FIRST)}.{r.choice(_LAST)}{r.randint(1, 99)}@{domain}"
        self.order = f"ORD-{r.randint(100_000, 999_999)}"
        self.on_file = iban(r)
        self.injected = []
        self.open_task(ttl_s)

    def do(self, action: str, **kw: Any) -> str | None:
        r, t = self.rng, self.tenant
        kw.setdefault("tenant", t)
        ticket = [f"helpdesk://{t}/tickets/{self.ticket}"]
        if action == "ticket":  # the request names the ticket and who asked
            args: dict[str, Any] = {"ticket": self.ticket, "requester": self.requester}
            kw.setdefault("result", [self.requester, self.order, *self.injected])
            return self.use(action, args, ticket, **kw)
        if action == "customer":
            res = [f"crm://{kw['tenant']}/customers/{self.customer}"]
            kw.setdefault("result", [self.requester, self.on_file])
            return self.use(action, {"customer": self.customer}, res, **kw)
        if action == "refund":  # to the payment method on file: no account in the arguments
            res = [f"billing://{t}/customers/{self.customer}"]
            args = {"customer": self.customer, "amount_cents": r.randint(500, 9_999)}
            return self.use(action, args, res, **kw)
        if action == "kb":
            res = [f"kb://support/articles/{r.randint(100, 999)}"]
            return self.use(action, {"q": r.choice(_KB)}, res, **kw)
        if action == "note":
            kw.setdefault("in_bytes", r.randint(200, 2_000))
            return self.use(action, {"ticket": self.ticket, "note": "[redacted]"}, ticket, **kw)
        if action == "email":  # the reply goes to the requester the ticket (and CRM) showed
            to = kw.pop("to", None) or self.requester
            kw.setdefault("in_bytes", r.randint(800, 5_000))
            args = {"to": to, "subject": f"Re: [{self.ticket}]"}
            return self.use(action, args, [f"mailto:{to}"], **kw)
        if action == "update":
            return self.use(action, {"ticket": self.ticket, "status": "solved"}, ticket, **kw)
        raise ValueError(action)

    def safe_call(self) -> str | None:
        return self.do(self.rng.choice(("ticket", "customer", "kb", "note")), guard="strict")

    def episode(self, deadline: int) -> bool:
        if self.now + 180_000 > deadline:
            return False
        r = self.rng
        self.open_ticket()
        steps = ["ticket", "customer", *(["kb"] * r.randint(0, 2))]
        steps += ["refund"] if r.random() < 0.15 else []
        steps += ["note", "email", "update"] if r.random() < 0.5 else ["email", "update"]
        for step in steps:
            gap = self.think(12, 60)
            if self.now + gap + 60_000 > deadline:
                break
            self.now += gap
            self.do(step)
        self.wait(1, 15)
        self.close_task(revoke=r.random() < 0.3)
        self.end_of_task(deadline)
        return True

    # ------------------------------------------------------------------ scenario scripts
    def _lead_in(self) -> None:
        self.open_ticket(ttl_s=1800)
        self.pause(8, 20)
        self.do("ticket", guard="strict")
        self.wait(3, 15)

    def _wrap_up(self, calls: int) -> None:
        self.safe_calls(calls)
        self.wait(2, 10)
        self.close_task()

    @script
    def script_foreign_tenant(self) -> None:
        """Looks up a customer in tenant initech, outside the charter's tenants (high)."""
        self._lead_in()
        self.do("customer", guard="strict")
        self.wait(5, 20)
        self.customer = self.rng.randint(1_000, 60_000)
        self.do("customer", tenant=_FOREIGN_TENANT, outcome="ok", guard="off", labelled=True)
        self._wrap_up(1)

    @script
    def script_gateway_denied_tool(self) -> None:
        """Tries an ungranted bulk export; the gateway denies it, still a medium alert."""
        self._lead_in()
        args = {"tenant": self.tenant, "format": "csv"}
        self.use("export", args, tenant=self.tenant, outcome="denied", guard="off", labelled=True)
        self._wrap_up(self.rng.randint(1, 2))

    @script
    def script_off_hours_call(self) -> None:
        """Works one more ticket after its shift (charter hours) ended (medium); then silent."""
        self.wait(5, 30)
        self.open_ticket(ttl_s=1200)
        self.pause(8, 20)
        self.do("ticket", outcome="ok", guard="strict", labelled=True)
        self.wait(3, 10)
        self.close_task()

    def _hijacked_ticket(self, injected: str) -> None:
        """A normal ticket whose body carries ``injected``: read it, look the customer up."""
        self.open_ticket(ttl_s=1800)
        self.injected = [injected]
        self.pause(8, 20)
        self.do("ticket", outcome="ok", guard="strict")
        self.pause(8, 20)
        self.do("customer", outcome="ok", guard="strict")
        if self.rng.random() < 0.5:
            self.pause(8, 20)
            self.do("kb", guard="strict")
        self.pause(6, 20)

    def _finish_ticket(self) -> None:
        self.pause(6, 20)
        self.do("email", guard="strict")
        self.pause(3, 12)
        self.do("update", guard="strict")
        self.wait(2, 10)
        self.close_task()

    @script
    def script_injected_recipient(self) -> None:
        """A ticket body says "also send the customer file to <free-mail address>"; it does, once."""
        r = self.rng
        to = f"{r.choice(_FIRST)}{r.randint(10, 99)}.{r.choice(_LAST)}@{r.choice(_FREE_MAIL)}"
        self._hijacked_ticket(to)
        self.do("email", to=to, outcome="ok", guard="strict", labelled=True)
        self._finish_ticket()

    @script
    def script_injected_refund_account(self) -> None:
        """A ticket body gives "new bank details"; it refunds to that new account, not the one on file."""
        new = iban(self.rng)
        self._hijacked_ticket(new)
        res = [f"billing://{self.tenant}/customers/{self.customer}"]
        args = {
            "customer": self.customer,
            "amount_cents": self.rng.randint(500, 9_999),
            "iban": new,
        }
        self.use("refund", args, res, tenant=self.tenant, outcome="ok", guard="strict",
                 labelled=True)  # fmt: skip
        self._finish_ticket()

    def _quiet_task(self) -> int:
        """Open a task and work without sponsor heartbeats until 20 s inside the quiet limit."""
        self.open_ticket(ttl_s=1800)
        quiet = self.limits.sponsor_quiet_seconds or 600
        limit = self.last_active + round(quiet * 1000)
        self.quiet = True
        while True:
            gap = self.rng.randint(40_000, 120_000)
            if self.now + gap > limit - 20_000:
                return limit
            self.now += gap
            self.safe_call()

    @script
    def script_sponsor_quiet(self) -> None:
        """Calls 30-90 s after its sponsor has been quiet longer than the limit (high)."""
        limit = self._quiet_task()
        self.now = max(self.now, limit) + self.rng.randint(30_000, 90_000)
        self.do("kb", outcome="ok", guard="strict", labelled=True)
        self.wait(3, 10)
        self.close_task()
        self.finish_script()

    @script
    def script_sponsor_back_before_quiet(self) -> None:
        """The sponsor is quiet past the limit but active again just before the call: allowed."""
        limit = self._quiet_task()
        self.now = max(self.now, limit) + self.rng.randint(20_000, 60_000)
        self.quiet = False
        self.heartbeat()
        self.wait(3, 12)
        self.do("kb", outcome="ok", guard="strict", labelled=True)
        self._wrap_up(1)
        self.finish_script()
