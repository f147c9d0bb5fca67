"""The explorer against hostile clients, on a real uvicorn server on 127.0.0.1 (a free port):
the bind address, body limits, non-image uploads, path traversal in every route parameter, and a
bounded burst of concurrent requests. Raw requests go through http.client, so no client library
normalizes the `../` away before the server sees it."""
from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.app.server import create_app
from cnnlab.app.uploads import DEFAULT_MAX_BODY_BYTES
from viz_support import app_server, digit_png, write_run, write_zoo_run

SECRET = "TOPSECRET-cnnlab-test"
MAX_UPLOAD_MB = 0.05  # ~52 KB: over-limit bodies still fit in loopback socket buffers
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`cnnlab app RUNS --port P` in a subprocess; yields (port, runs folder, process)."""
    root = tmp_path_factory.mktemp("server")
    runs = root / "runs"
    write_zoo_run(runs / "digits-a")
    (runs / "digits-a" / "figures").mkdir()
    Image.new("RGB", (20, 10)).save(runs / "digits-a" / "figures" / "confusion_matrix.png")
    (runs / "secret.txt").write_text(SECRET)
    (root / "secret.txt").write_text(SECRET)
    (runs / "digits-a" / "figures" / "notes.txt").write_text(SECRET)  # not a PNG: never listed
    with app_server(runs, "--max-upload-mb", str(MAX_UPLOAD_MB), log_path=root / "server.log") as (port, proc):
        yield port, runs, proc


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            chunks: list[bytes] | None = None) -> tuple[int, bytes]:
    """One raw HTTP request; the path is sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        if chunks is not None:  # no Content-Length: the body arrives in chunks of unknown total size
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            try:
                for c in chunks:
                    conn.send(f"{len(c):x}\r\n".encode() + c + b"\r\n")
                conn.send(b"0\r\n\r\n")
            except OSError:
                pass  # the server may answer 413 and close before the whole body is sent
        else:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in {"Content-Length": str(len(body or b"")), **(headers or {})}.items():
                conn.putheader(k, v)
            conn.endheaders()
            try:
                conn.send(body or b"")
            except OSError:
                pass  # the server answered 413 from the Content-Length and closed: read that answer
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def multipart(data: bytes, filename: str = "x.png", extra: dict[str, str] | None = None) -> tuple[bytes, dict]:
    boundary = "cnnlabboundary7"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in (extra or {}).items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port``, from /proc/net/tcp{,6}."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # 0A = LISTEN
                found.add(addr)
    return found


# --- where it listens ----------------------------------------------------------------------------

def test_the_server_listens_on_loopback_only_by_default(server):
    port, _, _ = server
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system")
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex; no 0.0.0.0 or ::


def test_serve_and_the_cli_default_to_127_0_0_1(tmp_path, monkeypatch):
    import typer
    import uvicorn
    from typer.testing import CliRunner

    from cnnlab.cli import app_cmd

    cli = typer.Typer()
    app_cmd.register(cli)
    cli.callback()(lambda: None)  # keep `app` a sub-command, as in the real CLI

    write_run(tmp_path / "runs" / "r")
    hosts = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: hosts.append(host))
    from cnnlab.app.server import serve

    serve(tmp_path / "runs")
    result = CliRunner().invoke(cli, ["app", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert hosts == ["127.0.0.1", "127.0.0.1"]


# --- bodies and uploads --------------------------------------------------------------------------

def test_a_body_over_the_limit_gets_413_with_or_without_content_length(server):
    port, _, _ = server
    limit = int(MAX_UPLOAD_MB * 1024 * 1024)
    body, headers = multipart(b"\0" * (limit + 1))
    status, text = request(port, "POST", "/api/runs/digits-a/analyze", body, headers)
    assert status == 413 and "larger than the explorer accepts" in json.loads(text)["detail"]
    status, _ = request(port, "POST", "/api/runs/digits-a/analyze", headers=headers,
                        chunks=[b"\0" * 8192] * (limit // 8192 + 2))
    assert status == 413
    lying = {**headers, "Content-Length": "10"}  # a false, small Content-Length does not get past the limit
    status, _ = request(port, "POST", "/api/runs/digits-a/analyze", body[:10], lying)
    assert status in (400, 422)
    assert DEFAULT_MAX_BODY_BYTES == 5 * 1024 * 1024  # the documented default


@pytest.mark.parametrize("data, name, status", [
    (b"just text", "x.png", 415),
    (b"", "x.png", 415),
    (b"%PDF-1.4 fake", "x.pdf", 415),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", 415),
    (digit_png()[:50], "x.png", 400),                   # truncated PNG
    (b"GIF89a" + b"\xff" * 20, "x.gif", 415),            # a GIF signature with garbage behind it
], ids=["text", "empty", "pdf", "svg", "truncated-png", "garbage-gif"])
def test_non_images_get_a_clear_4xx(server, data, name, status):
    port, _, _ = server
    body, headers = multipart(data, name)
    got, text = request(port, "POST", "/api/runs/digits-a/analyze", body, headers)
    assert got == status, text
    assert json.loads(text)["detail"]


def test_a_good_upload_is_analyzed(server):
    port, _, _ = server
    body, headers = multipart(digit_png())
    status, text = request(port, "POST", "/api/runs/digits-a/analyze", body, headers)
    assert status == 200, text
    assert len(json.loads(text)["top"]) >= 1


# --- no endpoint reads a client-supplied path ----------------------------------------------------

TRAVERSALS = ["..", "../..", "..%2f..%2fsecret.txt", "%2e%2e", "%2e%2e%2fsecret.txt", "..%5csecret.txt",
              "%2fetc%2fpasswd", "secret.txt", "digits-a%2f..%2f..%2fsecret.txt", "%00", "....//secret.txt"]
ROUTE_TEMPLATES = [
    "/api/runs/{x}", "/api/runs/{x}/filters", "/api/runs/{x}/curves.png", "/api/runs/{x}/figures/confusion_matrix.png",
    "/api/runs/digits-a/figures/{x}", "/api/runs/digits-a/filters?layer={x}", "/static/{x}",
    "/api/runs/digits-a/figures/notes.txt", "/api/runs?path={x}", "/api/runs/digits-a?path=/etc/passwd",
    "/api/runs/{x}/analyze", "/{x}", *(f"/api/runs/{{x}}/{name}" for name in (
        "graph", "graph/tiles", "tile", "conv", "classvis", "featvis", "fool", "live")),
]
POST_ROUTES = ("/analyze", "/graph", "/graph/tiles", "/tile", "/conv", "/classvis", "/featvis", "/fool", "/live")
FIXED_PATHS = ["/static/../../secret.txt", "/static/../../../../../../etc/passwd", "/api/runs/../../secret.txt",
               "/../secret.txt", "/api/runs/digits-a/figures/../../secret.txt", "//etc/passwd"]


def _attempts() -> list[str]:
    paths = [t.replace("{x}", x) for t in ROUTE_TEMPLATES if "{x}" in t for x in TRAVERSALS]
    return paths + [t for t in ROUTE_TEMPLATES if "{x}" not in t] + FIXED_PATHS


def test_path_traversal_in_every_route_parameter_is_refused(server):
    port, _, _ = server
    leaks = []
    for path in _attempts():
        method = "POST" if path.endswith(POST_ROUTES) else "GET"
        body, headers = multipart(digit_png()) if method == "POST" else (None, {})
        status, text = request(port, method, path, body, headers)
        if SECRET.encode() in text or b"root:" in text:
            leaks.append(path)
        if status == 200:  # only the run listing itself answers; it ignores unknown query parameters
            assert path.startswith("/api/runs?") or path.startswith("/api/runs/digits-a?"), path
        else:
            assert 400 <= status < 500, (path, status)
    assert leaks == []


def test_uploaded_file_names_and_form_fields_are_not_paths(server):
    port, runs, _ = server
    for name in ("../../secret.txt", "/etc/passwd", "..\\..\\evil.png"):
        body, headers = multipart(digit_png(), name, extra={"target": "1"})
        status, text = request(port, "POST", "/api/runs/digits-a/cam", body, headers)
        assert status == 200 and SECRET.encode() not in text
    body, headers = multipart(digit_png(), extra={"target": "../../secret.txt"})
    status, _ = request(port, "POST", "/api/runs/digits-a/cam", body, headers)
    assert status == 422  # target must be an integer class index
    for route, field in (("tile", "node"), ("graph/tiles", "node"), ("conv", "layer"), ("featvis", "layer")):
        body, headers = multipart(digit_png(), extra={field: "../../secret.txt", "channel": "0", "target": "0"})
        status, text = request(port, "POST", f"/api/runs/digits-a/{route}", body, headers)
        assert status == 400 and SECRET.encode() not in text, (route, status)  # a name looked up, never a path
    assert not list(runs.parent.rglob("evil.png"))


def test_every_route_of_the_app_is_covered_by_the_traversal_attempts(tmp_path):
    """A new route must be added to ROUTE_TEMPLATES: this fails until it is."""
    write_run(tmp_path / "runs" / "r")
    app = create_app(tmp_path / "runs")
    routes = {getattr(r, "path", None) for r in app.routes}
    tested = {"/", "/static", "/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/filters",
              "/api/runs/{run_id}/analyze", "/api/runs/{run_id}/cam", "/api/runs/{run_id}/figures/{name}",
              "/api/runs/{run_id}/curves.png", "/api/runs/{run_id}/graph", "/api/runs/{run_id}/graph/tiles",
              "/api/runs/{run_id}/tile", "/api/runs/{run_id}/conv", "/api/runs/{run_id}/classvis",
              "/api/runs/{run_id}/featvis", "/api/runs/{run_id}/fool", "/api/runs/{run_id}/live"}
    assert routes == tested


# --- a burst of concurrent requests --------------------------------------------------------------

def test_a_burst_of_40_requests_from_8_threads_is_answered_and_the_server_survives(server):
    port, _, proc = server
    good, good_headers = multipart(digit_png())
    text_body, text_headers = multipart(b"not an image")
    big, big_headers = multipart(b"\0" * int(MAX_UPLOAD_MB * 1024 * 1024 + 10))
    mix = [
        ("GET", "/api/runs", None, {}, 200),
        ("GET", "/api/runs/digits-a", None, {}, 200),
        ("POST", "/api/runs/digits-a/analyze", good, good_headers, 200),
        ("POST", "/api/runs/digits-a/analyze", text_body, text_headers, 415),
        ("POST", "/api/runs/digits-a/analyze", big, big_headers, 413),
        ("GET", "/api/runs/digits-a/curves.png", None, {}, 200),
        ("GET", "/api/runs/nope", None, {}, 404),
        ("GET", "/api/runs/digits-a/filters", None, {}, 200),
    ]
    jobs = [mix[i % len(mix)] for i in range(40)]

    def one(job):
        method, path, body, headers, want = job
        try:
            status, _ = request(port, method, path, body, headers)
        except OSError as err:  # a refused or reset connection counts as a failure, not a crash of the test
            return (path, want, repr(err))
        return (path, want, status)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, jobs, timeout=600))
    assert [r for r in results if r[1] != r[2]] == []
    assert proc.poll() is None
    assert request(port, "GET", "/api/runs")[0] == 200
