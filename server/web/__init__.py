"""The web view: the record as pages under ``/view/``, for people who would rather look than read JSON.

Pages are rendered on the server from packaged templates, and plots are drawn there as SVG,
so a page needs nothing but this server (controls networks have no internet) and no script.
A viewer signs in with their bearer token; every request is checked with it, and a page shows
a control only when the viewer's role grants the duty of the slice it performs.
"""

from cora_bluesky.server.web.pages import router

__all__ = ["router"]
