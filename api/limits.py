"""Request limits enforced before the app reads a request: body size, and what an error may echo.

A body over `MAX_BODY_BYTES` is refused with a 413 while it is read, from its Content-Length when it
has one and by counting the chunks when it has not, so a 200 MB upload never reaches the JSON or form
parser. A 422 echoes a bounded summary of the input, whatever its type, and never text that cannot be
encoded (lone surrogates).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import Depends, HTTPException

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body: a 20,000-character ticket is at most 80 kB of UTF-8, 480 kB as a
form (line breaks doubled, every byte percent-encoded)."""
ECHO_CHARS = 200
"""Characters of an input a 422 echoes back."""
PASTE_WAIT_SECONDS = 30.0
"""How long a pasted ticket waits for the one paste slot before a 503."""
PASTE_POLL_SECONDS = 0.05
"""How often a waiting paste looks at the slot."""
_PASTE_SLOT = threading.BoundedSemaphore(1)


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, decided before or while it is read."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(send, self.limit)
        received = 0
        started = refused = False

        async def counting_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # answer now, and tell the app the client left: FastAPI turns any error raised
                    # while it reads a body into a 400, which must not replace this 413
                    refused = True
                    if not started:
                        await _too_large(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message):
            nonlocal started
            if refused:
                return  # the 413 is the answer; whatever the app says after the "disconnect" is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, tracking_send)


async def _too_large(send: Callable[[dict], Awaitable[None]], limit: int) -> None:
    body = json.dumps({"detail": f"request body over {limit:,} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def bounded(value: Any) -> Any:
    """What a 422 may echo of an input: short strings and small values as they are, longer strings
    cut, large arrays and objects summarised; text that cannot be encoded shown escaped."""
    if isinstance(value, str):
        value = encodable(value)
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + f"… ({len(value):,} characters)"
    if isinstance(value, (list, tuple, dict)):
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = None
        if text is not None and len(text) <= ECHO_CHARS and encodable(text) == text:
            return value
        return f"({'an object with' if isinstance(value, dict) else 'an array of'} {len(value):,} "\
               f"{'keys' if isinstance(value, dict) else 'items'}, not echoed)"
    return value


def encodable(text: str) -> str:
    """`text` with lone surrogates (valid in JSON escapes, not in UTF-8) written as \\udXXX."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def paste_turn() -> AsyncIterator[None]:
    """A dependency: pasted tickets are analysed and embedded one at a time (up to 8 model-sized pieces
    each), so four clients posting 20,000-character tickets cannot take every core from the searches.
    A paste waits for its turn on the event loop, not on a request thread: with `request_threads`
    threads, that many waiting pastes would have stopped every other request. One that waits over
    `PASTE_WAIT_SECONDS` gets a 503 with Retry-After."""
    deadline = time.monotonic() + PASTE_WAIT_SECONDS
    while not _PASTE_SLOT.acquire(blocking=False):  # polled: nothing is held if the client goes away
        if time.monotonic() >= deadline:
            raise HTTPException(503, "busy with other pasted tickets; try again in a few seconds", headers={"Retry-After": "5"})
        await anyio.sleep(PASTE_POLL_SECONDS)
    try:
        yield
    finally:
        _PASTE_SLOT.release()


PasteTurn = Annotated[None, Depends(paste_turn)]
