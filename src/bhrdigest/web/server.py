"""uvicorn, the production ASGI server, set up the way `bhrdigest web` needs it.

No uvicorn access log (its lines carry the URL, and our URLs carry tokens: the app logs
each request with the token cut out); no logging set-up of its own (the CLI's is used);
proxy headers trusted from FORWARDED_ALLOW_IPS only, so a client cannot pick the address
the rate limits count it under.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn
from starlette.types import ASGIApp


def build_server(
    app: ASGIApp,
    *,
    host: str = "0.0.0.0",
    port: int = 8000,
    forwarded_allow_ips: str | None = None,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=10,  # SIGTERM: finish requests in flight, then stop
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    return uvicorn.Server(config)


def serve_until_stopped(server: uvicorn.Server) -> None:
    """Serve until SIGTERM or Ctrl-C; requests in flight finish, then a clean exit (0).

    uvicorn re-raises the signal once it has shut down, so that the process dies of it;
    the handlers set here turn that into a normal exit, as the worker's is.
    """

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
