"""Cold child, amistate: a fresh interpreter imports the handler and handles one event.

Run as ``python bench/cold_amistate.py '<event JSON>'`` by bench/cold.py; prints
its own timings as JSON. Everything else comes from the environment, as in Lambda.
With ``BENCH_SHARED_SESSION=1`` it first patches ``amistate_adapters.clients``
to simulate a proposed change (one boto3 Session for all clients).
"""

import time

T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

if os.environ.get("BENCH_SHARED_SESSION"):
    # Simulates the proposed change to amistate_adapters.clients: one boto3
    # Session per process for every client, instead of one Session per client.
    from typing import Any

    from amistate_adapters import clients

    _shared: list[Any] = []

    def _client(service: str, region: str | None = None) -> Any:
        key = (service, region)
        with clients._lock:
            found = clients._clients.get(key)
            if found is None:
                import boto3.session

                if not _shared:
                    _shared.append(boto3.session.Session())
                config = clients.client_config()
                found = _shared[0].client(service, region_name=region, config=config)
                clients._clients[key] = found
            return found

    clients.client = _client

from amistate.shims.lambda_handler import handler  # noqa: E402

T1 = time.perf_counter()


class Context:
    invoked_function_arn = "arn:aws:lambda:us-west-2:111122223333:function:amistate-state"
    aws_request_id = "cold-start"


handler(json.loads(sys.argv[1]), Context())
T2 = time.perf_counter()
print(json.dumps({"import": T1 - T0, "handle": T2 - T1, "total": T2 - T0}))
