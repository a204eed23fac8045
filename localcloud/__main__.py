"""`python -m localcloud serve --port P --state-dir DIR`: the local cloud process itself."""

from __future__ import annotations

import argparse
from pathlib import Path

from localcloud.control import DEFAULT_PORT, state_dir
from localcloud.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localcloud")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve the AWS APIs on localhost until SIGTERM")
    run.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"[default: {DEFAULT_PORT}]")
    run.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="[default: $SMLOCAL_STATE_DIR, else .smlocal/cloud in the checkout, else "
        "$XDG_STATE_HOME/smlocal/cloud]",
    )
    run.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="an origin whose pages may call the cloud (repeatable) [default: none]",
    )
    run.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        help="periods, alarm evaluation and cooldowns run N times faster [default: 1]",
    )
    args = parser.parse_args(argv)
    # A refused start is one line and status 2 (`server.serve` says it; `cloud start --detach`
    # relays the line as is).
    serve(state_dir(args.state_dir), args.port, tuple(args.cors_origin), args.clock_speed)


if __name__ == "__main__":
    main()
