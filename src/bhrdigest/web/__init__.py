"""The `web` process: one-click unsubscribe (RFC 8058) and the preferences page.

    app.py        the Starlette application: routes, security headers, token-free access log
    pages.py      the pages: unsubscribe, preferences, health
    csrf.py       signed, expiring form tokens
    ratelimit.py  in-memory token buckets (per process)
    server.py     uvicorn, the production server
    commands.py   `bhrdigest web`, `subscribers`, `unsubscribe`

Importing this package imports no web framework: the modules do, on use.
"""
