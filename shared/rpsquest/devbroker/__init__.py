"""A local stand-in for the Knative Broker: the same Triggers, retries, dead letters and
PingSources, read from knative/ (SPEC §10.4). Development only; the cluster runs the real Broker.

python -m rpsquest.devbroker [--pings [--schedule-speed X]] [--time-scale X] [--port 8080]
                             [--workers N] [--subscriber NAME=URL ...]

By job, each importing only those before it:

- errors: ManifestError, what a manifest the broker cannot honour raises at load;
- timing: ISO-8601 durations, retry backoff, cron schedules (their step check, next fire);
- filters: Trigger `filter` and `filters` compiled to predicates on an event's attributes;
- topology: the Broker, its Triggers and PingSources from the manifests, and the local
  addresses of the Knative Services they name;
- wire: CloudEvents on HTTP (parsing, binary mode, one POST's outcome);
- workers: a bounded pool of daemon threads;
- dispatch: DevBroker, delivery with retries, dead letters and replies re-published;
- app: the HTTP surface (Flask); __main__: the command line.
"""
