"""``optserve``: the command line.

``optserve run job.json`` runs a job in-process and prints a summary table; a bad file or spec
prints each field and reason and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def format_table(result: dict) -> str:
    header = ("label", "optimizer", "status", "steps", "final loss", "best loss")
    rows = [header]
    for run in result["runs"]:
        rows.append(
            (
                run["label"],
                run["optimizer"],
                run["status"],
                str(run["steps"]),
                _num(run["final"]["loss"]),
                _num(run["best"]["loss"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(value: Any) -> str:
    return "nan/inf" if value is None else f"{value:.6g}"


def load_job(path: str) -> dict:
    """Read a job file; raise ``BadInput`` with a readable reason."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


class BadInput(Exception):
    pass


def cmd_run(args: argparse.Namespace) -> int:
    import optcore

    job = load_job(args.job)
    try:
        result = optcore.run(job)
    except optcore.SpecError as exc:
        lines = (f"{field or 'job'}: {msg}" for field, msg in exc.errors)
        raise BadInput("\n".join(lines)) from None
    print(format_table(result))
    timing = result["timing"]
    print(
        f"\ncompile {timing['compile_ms']:.0f} ms, run {timing['run_ms']:.1f} ms on "
        f"{result['device']}"
    )
    if args.output:
        Path(args.output).write_text(json.dumps(result))
        print(f"result written to {args.output}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from worker.settings import get_settings

    from .stack import run_forever

    return run_forever(get_settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optserve", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job in this process and print a summary")
    run.add_argument("job", help="job document (JSON file, or - for stdin)")
    run.add_argument("-o", "--output", help="write the result document here")
    run.set_defaults(func=cmd_run)
    up = sub.add_parser("up", help="start Redis, a worker and the API on this machine")
    up.set_defaults(func=cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
