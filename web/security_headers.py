"""The headers every response carries, set in one place: what a browser may load and run on
Garde's pages, and that nothing with patient data is kept in a cache.

Scripts come only from Garde's own static files (web/static/js), never inline, so a value
that slipped into a page cannot run; styles may be inline (the roster grid places its bars
with `style`). No page may be framed (clickjacking), no content type guessed, no address sent
to other sites. Every response but a static file is `no-store`: pages, the API, reports and
PDFs all carry patient data or depend on who asks. OHIF's viewer (web/ohif.py) sets its own
policy (it needs workers and WebAssembly) and marks its files public.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# Chrome shows a PDF in its viewer plugin under the PDF's own policy: the plugin must be let
# load it, or a site opening the report sees a blocked page. Pages load no plugin at all.
PDF_POLICY = CONTENT_SECURITY_POLICY.replace("object-src 'none'", "object-src 'self'")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
    # Not no-referrer: that makes a browser send `Origin: null` on Garde's own form posts.
    "Referrer-Policy": "same-origin",
}


def install(app: Flask) -> None:
    static = f"{app.static_url_path}/"

    @app.after_request
    def security_headers(response: Response) -> Response:
        # A view with a policy of its own keeps it: OHIF's viewer (web/ohif.py).
        if "Content-Security-Policy" not in response.headers:
            pdf = response.mimetype == "application/pdf"
            policy = PDF_POLICY if pdf else CONTENT_SECURITY_POLICY
            response.headers["Content-Security-Policy"] = policy
        for name, value in HEADERS.items():
            response.headers[name] = value
        # A view may say its answer is public (OHIF's files): no patient data, any cache.
        if not request.path.startswith(static) and not response.cache_control.public:
            response.headers["Cache-Control"] = "no-store"
        return response
