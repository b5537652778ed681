"""The page's files on the wire: versioned URLs with a year's lifetime, ETags and 304s, gzip and brotli by
Accept-Encoding; and the server's own answers gzipped when large."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import brotli
import pytest
from fastapi.testclient import TestClient

from server.app import ROOT, create_app
from server.assets import ENCODINGS, IMMUTABLE, accepted_codings
from server.settings import Settings

PLAIN = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(max_concurrent=1))) as c:
        yield c


def page_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/(?:static|vendor)/[^"]+)"', html)


def raw_get(client: TestClient, url: str, headers: dict[str, str]):
    """The answer as it travels: the body still encoded (the test client would otherwise decode it)."""
    with client.stream("GET", url, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def test_the_page_names_its_files_by_version_and_each_is_kept_a_year(client):
    html = client.get("/?lesson=four-shapes").text  # a lesson page (its numbers are quick to measure)
    urls = page_urls(html)
    version = client.app.state.static_tree.version
    assert f"/static/{version}/js/main.js" in urls and f"/static/{version}/css/style.css" in urls
    assert any(u.startswith("/vendor/") and u.endswith("/plotly.min.js") and u != "/vendor/plotly.min.js"
               for u in urls)  # fmt: skip
    for url in urls:
        r = client.get(url, headers=GZIP)
        assert r.status_code == 200, url
        assert r.headers["cache-control"] == IMMUTABLE, url


def test_a_module_imported_by_relative_url_stays_in_the_version(client):
    version = client.app.state.static_tree.version
    main = client.get(f"/static/{version}/js/main.js").text
    imported = re.findall(r'from "\./([\w.]+)"', main)
    assert imported
    for name in imported:  # what the browser asks for: the importing module's folder, so the same version
        r = client.get(f"/static/{version}/js/{name}")
        assert r.status_code == 200 and r.headers["cache-control"] == IMMUTABLE


def test_plain_and_outdated_urls_are_revalidated_not_kept(client):
    assert client.get("/static/js/main.js").headers["cache-control"] == "no-cache"
    assert client.get("/vendor/plotly.min.js").headers["cache-control"] == "no-cache"
    assert client.get("/static/0123456789ab/js/main.js").headers["cache-control"] == "no-store"
    assert client.get("/static/0123456789ab/js/nope.js").status_code == 404
    assert client.get("/static/../server/app.py").status_code == 404


def test_gzip_only_when_accepted_and_always_with_vary(client):
    url = "/static/js/main.js"
    plain_r, plain = raw_get(client, url, PLAIN)
    assert "content-encoding" not in plain_r.headers
    gz_r, gz = raw_get(client, url, GZIP)
    assert gz_r.headers["content-encoding"] == "gzip" and gzip.decompress(gz) == plain and len(gz) < len(plain)
    for r in (plain_r, gz_r):
        assert r.headers["vary"] == "Accept-Encoding"
    refused_r, _ = raw_get(client, url, {"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused_r.headers


def test_brotli_once_it_is_computed_and_gzip_meanwhile(client):
    url = "/static/css/style.css"
    plain = raw_get(client, url, PLAIN)[1]
    asset = client.app.state.static_tree.get("css/style.css")
    ENCODINGS.compute((asset.digest, "br"), asset.body)  # what the first request that accepts br starts
    r, body = raw_get(client, url, {"Accept-Encoding": "gzip, br"})
    assert r.headers["content-encoding"] == "br" and brotli.decompress(body) == plain
    assert raw_get(client, url, GZIP)[0].headers["content-encoding"] == "gzip"


def test_a_conditional_request_for_an_unchanged_file_gets_304(client):
    for url in ("/vendor/plotly.min.js", "/static/js/main.js"):
        for headers in (PLAIN, GZIP):
            first = client.get(url, headers=headers)
            again = client.get(url, headers={**headers, "If-None-Match": first.headers["etag"]})
            assert again.status_code == 304 and again.content == b"", (url, headers)
            assert again.headers["etag"] == first.headers["etag"]
            assert again.headers["cache-control"] == first.headers["cache-control"]
        other = client.get(url, headers={"If-None-Match": '"0000000000000000"'})
        assert other.status_code == 200


def test_representations_have_their_own_etags(client):
    url = "/static/js/main.js"
    assert client.get(url, headers=PLAIN).headers["etag"] != client.get(url, headers=GZIP).headers["etag"]


def test_the_version_changes_when_a_file_changes(tmp_path: Path):
    static = tmp_path / "static"
    shutil.copytree(ROOT / "static", static)

    def page_and_file():
        with TestClient(create_app(Settings(max_concurrent=1), static_dir=static)) as c:
            version = c.app.state.static_tree.version
            assert f"/static/{version}/js/main.js" in page_urls(c.get("/").text)
            return version, c.get(f"/static/{version}/css/lag.css").text

    before, css_before = page_and_file()
    assert page_and_file()[0] == before  # the same tree, the same version
    (static / "css" / "lag.css").write_text(css_before + "\n.changed { color: red; }\n")
    after, css_after = page_and_file()
    assert after != before and css_after.endswith(".changed { color: red; }\n")


def test_large_json_answers_are_gzipped_when_accepted(client):
    r, body = raw_get(client, "/api/config", GZIP)
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == raw_get(client, "/api/config", PLAIN)[1]
    trace = client.post("/api/trace", json={"seq_len": 40}, headers=GZIP)
    assert trace.status_code == 200 and trace.headers["content-encoding"] == "gzip"
    assert trace.json()["type"] == "trace"
    plain = client.post("/api/trace", json={"seq_len": 40}, headers=PLAIN)
    assert "content-encoding" not in plain.headers and plain.json() == trace.json()
    assert trace.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"


def test_a_trace_document_is_gzipped_once_for_everyone_who_asks(client, monkeypatch):
    calls = []
    real = ENCODINGS.compute
    monkeypatch.setattr(ENCODINGS, "compute", lambda key, body: calls.append(key) or real(key, body))
    answers = [client.post("/api/trace", json={"seq_len": 41}, headers=GZIP) for _ in range(3)]
    assert len({a.content for a in answers}) == 1 and all(a.headers["content-encoding"] == "gzip" for a in answers)
    assert len(set(calls)) == 1 and sum(ENCODINGS.ready(key) for key in set(calls)) == 1


@pytest.mark.parametrize(("header", "codings"), [
    ("gzip, deflate, br, zstd", {"gzip", "deflate", "br", "zstd"}),
    ("br;q=0, gzip;q=0.5", {"gzip"}),
    ("GZIP;q=1.0", {"gzip"}),
    ("gzip;q=nonsense, identity", {"identity"}),
    ("", set()),
])  # fmt: skip
def test_accept_encoding_is_read_with_its_weights(header, codings):
    assert accepted_codings(header) == codings


def test_a_head_request_gets_the_headers_of_the_file(client):
    get, head = client.get("/static/js/main.js", headers=GZIP), client.head("/static/js/main.js", headers=GZIP)
    assert head.status_code == 200 and head.content == b""
    assert {k: head.headers[k] for k in ("etag", "content-encoding", "cache-control")} == {
        k: get.headers[k] for k in ("etag", "content-encoding", "cache-control")}
