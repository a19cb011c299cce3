"""A tiny ASGI app for the launcher's tests: answers with its process id, after working a while.

The work blocks the event loop, as a tick of many game sessions does, so the process cannot
accept connections meanwhile.
"""

import os
import time
from typing import Any


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    time.sleep(0.05)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
