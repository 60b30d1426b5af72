"""The `web` process: one-click unsubscribe (RFC 8058) and the preferences page.

    app.py          the Starlette application: routes
    context.py      what every page shares: configuration, database, secret, templates, limits
    frame.py        around every request: client and scheme, body limit, security headers, token-free log
    proxy.py        the client address and scheme the trusted proxies report
    pages.py        the pages: unsubscribe, preferences, health
    ratelimit.py    in-memory token buckets (per process)
    server.py       uvicorn, the production server, bounded under abuse
    connections.py  header timeout and a connection cap, in uvicorn's HTTP protocol

Tokens (unsubscribe, preferences, form) are signed in bhrdigest/signing.py; a subscriber
token names an address id (store/addresses.py), which context.py reads back to the address;
the commands `bhrdigest web` and `unsubscribe` are in cli/web.py, `subscribers` in cli/subscribers.py.
Importing this package imports no web framework: the modules do, on use.
"""
