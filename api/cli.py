"""``optserve``: the command line.

``optserve run job.json`` runs a job in-process and prints a summary table; ``optserve up``
starts the stack; ``optserve submit job.json --wait`` sends a job to it and follows it;
``optserve plot result.json --kind contour -o out.png`` draws a saved result. A bad file or
spec prints each field and reason and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.models import Progress
    from optserve.client import ApiError

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
        Path(args.output).write_bytes(optcore.dumps(result))
        print(f"result written to {args.output}")
    return 0


def _problem_text(exc: ApiError) -> str:
    problem = exc.problem
    lines = [f"{e.field or 'job'}: {e.message}" for e in problem.errors or []]
    return "\n".join(lines) or problem.detail or f"HTTP {problem.status}"


def _progress_bar(fraction: float, width: int = 30) -> str:
    filled = int(round(fraction * width))
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:6.1%}"


def _show_progress(progress: Progress) -> None:
    print(
        f"\r{_progress_bar(progress.fraction)} {progress.steps_done:,} steps",
        end="",
        file=sys.stderr,
        flush=True,
    )


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a job to a running service; with --wait, show progress then the table."""
    import httpx

    from optserve.client import ApiError, Client

    job = load_job(args.job)
    try:
        with Client(args.url, api_key=args.api_key) as client:
            try:
                job_id = client.submit(job).id
            except ApiError as exc:
                raise BadInput(_problem_text(exc)) from None
            print(f"job {job_id} accepted: {args.url}/v1/jobs/{job_id}", flush=True)
            if not args.wait:
                return 0
            final = client.wait(job_id, on_progress=_show_progress)
            print(file=sys.stderr)
            if final.status != "succeeded":
                print(f"job {job_id} {final.status}", file=sys.stderr)
                return 1
            result = client.http.get(f"/v1/jobs/{job_id}/result").json()
    except httpx.HTTPError as exc:
        raise BadInput(f"cannot reach {args.url}: {exc}") from None
    print(format_table(result))
    if args.output:
        Path(args.output).write_text(json.dumps(result))
        print(f"result written to {args.output}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw a saved result offline."""
    from . import plots

    result = load_job(args.result)
    fmt = "svg" if args.output.endswith(".svg") else "png"
    try:
        data = plots.render(result, args.kind, fmt)
    except plots.NoData as exc:
        raise BadInput(str(exc)) from None
    Path(args.output).write_bytes(data)
    print(f"{args.kind} plot written to {args.output}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from worker.settings import get_settings

    from .stack import run_forever

    return run_forever(get_settings(), workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optserve", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job in this process and print a summary")
    run.add_argument("job", help="job document (JSON file, or - for stdin)")
    run.add_argument("-o", "--output", help="write the result document here")
    run.set_defaults(func=cmd_run)
    up = sub.add_parser("up", help="start Redis, a worker and the API on this machine")
    up.add_argument("--workers", type=int, default=1, help="Celery workers to start (default 1)")
    up.set_defaults(func=cmd_up)
    submit = sub.add_parser("submit", help="submit a job to a running service")
    submit.add_argument("job", help="job document (JSON file, or - for stdin)")
    submit.add_argument("--wait", action="store_true", help="follow progress, print a table")
    submit.add_argument("--url", default=os.environ.get("OPTSERVE_URL", "http://127.0.0.1:8000"))
    submit.add_argument("--api-key", default=os.environ.get("OPTSERVE_API_KEY"))
    submit.add_argument("-o", "--output", help="with --wait: write the result document here")
    submit.set_defaults(func=cmd_submit)
    plot = sub.add_parser("plot", help="draw a saved result (png or svg by the file name)")
    plot.add_argument("result", help="result document (JSON file)")
    plot.add_argument(
        "--kind", default="contour", choices=["contour", "loss", "surface", "landscape"]
    )
    plot.add_argument("-o", "--output", required=True, help="out.png or out.svg")
    plot.set_defaults(func=cmd_plot)
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
