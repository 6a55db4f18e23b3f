"""``mcpmon``: the command line. Every sub-command is a thin shell over the core.

This module only dispatches: each sub-command registers itself from the module
next to the code it drives (``add_X_parser(sub)``: arguments, help text and the
function that runs it), in the order ``mcpmon --help`` lists them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.bench.command import add_bench_parser
from monitor.charters_from_traffic.command import add_charter_parser, add_map_parser
from monitor.check_charter_command import add_check_charter_parser
from monitor.completion import add_completion_parser
from monitor.errors import CharterError, MonitorError
from monitor.evaluate_command import add_evaluate_parser
from monitor.explain_command import add_explain_parser
from monitor.feedback_command import add_feedback_parser
from monitor.proxy.command import add_proxy_parser
from monitor.replay_command import add_replay_parser
from monitor.report_command import add_report_parser
from monitor.revoker.command import add_revoker_parser
from monitor.schemas_command import add_schemas_parser
from monitor.signing_command import add_sign_charter_parser
from monitor.sim.command import add_simulate_parser
from monitor.sinks.command import add_sink_parser
from monitor.tail_command import add_tail_parser
from monitor.tap.command import add_tap_parser
from monitor.worker.command import add_worker_parser

EPILOG = "Contracts and charter format: README.md and schemas/. Exit status: 0 ok, 1 findings/problems, 2 usage."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcpmon",
        description="Streaming behaviour monitor for AI agents that call tools over MCP.",
        epilog=EPILOG,
    )
    p.add_argument("--version", action="version", version=f"mcpmon {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_replay_parser(sub)  # monitor/replay_command.py
    add_check_charter_parser(sub)  # monitor/check_charter_command.py
    add_schemas_parser(sub)  # monitor/schemas_command.py
    add_simulate_parser(sub)  # monitor/sim/command.py
    add_evaluate_parser(sub)  # monitor/evaluate_command.py
    add_bench_parser(sub)  # monitor/bench/command.py
    add_explain_parser(sub)  # monitor/explain_command.py
    add_completion_parser(sub)  # monitor/completion.py
    add_tail_parser(sub)  # monitor/tail_command.py
    add_worker_parser(sub)  # monitor/worker/command.py
    add_report_parser(sub)  # monitor/report_command.py
    add_feedback_parser(sub)  # monitor/feedback_command.py
    add_tap_parser(sub)  # mcpmon tap: monitor/tap/command.py
    add_proxy_parser(sub)  # mcpmon proxy: monitor/proxy/command.py
    add_revoker_parser(sub)  # mcpmon revoker: monitor/revoker/command.py
    add_sink_parser(sub)  # mcpmon sink: monitor/sinks/command.py
    add_sign_charter_parser(sub)  # mcpmon sign-charter: monitor/signing_command.py
    add_map_parser(sub)  # mcpmon map: monitor/charters_from_traffic/command.py
    add_charter_parser(sub)  # mcpmon charter suggest|diff|evaluate: same module
    return p


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            sub: argparse.ArgumentParser = action.choices[command]
            return sub
    return parser


def _warnings_to_stderr() -> None:
    """Until a command sets up its logging, a warning (an unknown or malformed MCPMON_*
    variable, read while settings load) goes to stderr: stdout may be a pipe of data
    (``mcpmon replay --out - | ...``); its strings pass the secret rules, as every log
    line's do (:func:`monitor.runtime.redact_secrets`)."""
    import structlog

    from monitor.runtime import redact_secrets

    if not structlog.is_configured():
        *steps, render = structlog.get_config()["processors"]  # structlog's own defaults
        structlog.configure(
            processors=[*steps, redact_secrets, render],
            logger_factory=lambda *_: structlog.WriteLogger(sys.stderr),
        )


def main(argv: Sequence[str] | None = None) -> int:
    _warnings_to_stderr()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the sub-command's usage, not the top level's
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except CharterError as err:
        for p in err.problems:
            print(f"error: {p}", file=sys.stderr)
        return 1
    except MonitorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # stdout's reader left (| head): stop quietly, as pipes do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
