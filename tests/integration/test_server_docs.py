"""/docs and /redoc load everything from the server itself: nothing from a CDN, so they work on a controls network."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("page, script", [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_the_documentation_pages_need_no_other_host(served, page, script):
    html = served.call("get", page, role=None)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'""", html.text)
    fetched = [a or b for a, b in urls]
    assert any(url.endswith(script) for url in fetched), fetched
    for url in fetched:
        assert not re.match(r"(https?:)?//", url), f"{page} loads {url} from another host"
        assert served.call("get", url, role=None).status_code == 200, url
    assert "cdn.jsdelivr" not in html.text and "fonts.googleapis" not in html.text
