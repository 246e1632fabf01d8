"""Cold child, amistate: a fresh interpreter imports the handler and handles one event.

Run as ``python bench/cold_amistate.py '<event JSON>'`` by bench/cold.py; prints
its own timings as JSON (and the file amistate was imported from). Everything
else comes from the environment, as in Lambda.
"""

import time

T0 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

from amistate.shims.lambda_handler import handler  # noqa: E402

T1 = time.perf_counter()


class Context:
    invoked_function_arn = "arn:aws:lambda:us-west-2:111122223333:function:amistate-state"
    aws_request_id = "cold-start"


handler(json.loads(sys.argv[1]), Context())
T2 = time.perf_counter()
amistate = sys.modules["amistate"]
print(
    json.dumps(
        {"import": T1 - T0, "handle": T2 - T1, "total": T2 - T0, "from": str(amistate.__file__)}
    )
)
