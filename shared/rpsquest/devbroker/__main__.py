"""A local stand-in for the Knative Broker, serving the manifests under knative/ on loopback.

python -m rpsquest.devbroker [--pings [--schedule-speed X]] [--time-scale X] [--port 8080]
                             [--workers N] [--subscriber NAME=URL ...]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from werkzeug.serving import make_server

from rpsquest.config import Settings
from rpsquest.devbroker.app import create_app
from rpsquest.devbroker.dispatch import MAX_WORKERS, DevBroker
from rpsquest.devbroker.errors import ManifestError
from rpsquest.devbroker.topology import default_subscribers, load_topology, parse_subscriber
from rpsquest.processes import LOOPBACK, PORTS

log = logging.getLogger("rpsquest.devbroker")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def _stop_serving(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rpsquest.devbroker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=PORTS["devbroker"])
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--pings", action="store_true", help="emit PingSources on their schedules")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply every backoff (tests use 0.001)"
    )
    parser.add_argument(
        "--schedule-speed",
        type=float,
        default=1.0,
        help="with --pings, run the schedules this many times faster (a soak: 15)",
    )
    parser.add_argument(
        "--subscriber",
        type=parse_subscriber,
        action="append",
        default=[],
        metavar="NAME=URL",
        help="address of a Knative Service (default: rps-play=http://127.0.0.1:8082/, …)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=MAX_WORKERS,
        help=f"deliveries at once; more wait their turn (default {MAX_WORKERS})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # our own lines log every delivery
    settings = Settings.from_env()
    try:
        topology = load_topology(settings.project_dir)
        subscribers = {**default_subscribers(), **dict(args.subscriber)}
        broker = DevBroker(
            topology,
            subscribers,
            settings.var_dir / "dead-letter",
            time_scale=args.time_scale,
            max_workers=args.workers,
        )
    except ManifestError as error:
        raise SystemExit(f"devbroker: {error}") from None
    server = make_server(args.host, args.port, create_app(broker, args.pings), threaded=True)
    stop = threading.Event()
    if args.pings:
        threading.Thread(
            target=broker.run_schedules,
            args=(stop,),
            kwargs={"speed": args.schedule_speed},
            daemon=True,
        ).start()
    log.info(
        "dev broker %s on http://%s:%d/: %d triggers, %d workers, ping sources %s (%s)",
        topology.broker,
        args.host,
        server.port,
        len(topology.triggers),
        broker.max_workers,
        ", ".join(broker.ping_sources) or "-",
        "scheduled" if args.pings else "on POST /admin/ping/<name> only",
    )
    # Explicit, since a shell starts background jobs with SIGINT ignored (rpsquest.local sends it).
    signal.signal(signal.SIGINT, _stop_serving)
    signal.signal(signal.SIGTERM, _stop_serving)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
