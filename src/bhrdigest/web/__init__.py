"""The `web` process: one-click unsubscribe (RFC 8058) and the preferences page.

    app.py        the Starlette application: routes, security headers, token-free access log
    context.py    what every page shares (configuration, database, secret, templates, limits)
    pages.py      the pages: unsubscribe, preferences, health
    ratelimit.py  in-memory token buckets (per process)
    server.py     uvicorn, the production server

Tokens (unsubscribe, preferences, form) are signed in bhrdigest.signing; the commands
(`bhrdigest web`, `subscribers`, `unsubscribe`) are in bhrdigest.cli.web.

Importing this package imports no web framework: the modules do, on use.
"""
