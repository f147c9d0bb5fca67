"""The download path against a local HTTP server on 127.0.0.1: good files, a wrong checksum, a server that is down."""
from __future__ import annotations

import functools
import http.server
import socket
import threading

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from cnnlab.data import download_dataset, load_dataset
from cnnlab.data.download import fetch
from cnnlab.errors import DataError
from test_data_formats import md5, serve_files_from, write_idx_dataset


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1 from a thread; yields (base URL, served folder)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_fashion(monkeypatch, url, root, *, bad: str | None = None):
    """Point Fashion-MNIST's official files at the server; their checksums at the served files."""
    arrays = write_idx_dataset(root)
    md5s = {name: "0" * 32 if name == bad else md5(root / name) for name, _ in tvd.FashionMNIST.resources}
    serve_files_from(monkeypatch, "fashion-mnist", url, md5s)
    return arrays


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_download_then_load(isolated, server, monkeypatch):
    url, root = server
    arrays = _serve_fashion(monkeypatch, url, root)
    bundle = load_dataset("fashion-mnist", data_dir=isolated / "dl", val_fraction=0)
    assert torch.equal(bundle.train.labels, torch.from_numpy(arrays["train-labels-idx1-ubyte"]).long())
    target = isolated / "dl" / "fashion-mnist"
    assert _leftovers(target) == sorted(name for name, _ in tvd.FashionMNIST.resources)
    assert download_dataset("fashion-mnist", data_dir=isolated / "dl") == target  # already there: no refetch


def test_download_goes_to_the_user_cache_by_default(isolated, server, monkeypatch):
    url, root = server
    _serve_fashion(monkeypatch, url, root)
    folder = download_dataset("fashion-mnist")
    assert folder == isolated / "xdg-cache" / "cnnlab" / "datasets" / "fashion-mnist"
    assert len(_leftovers(folder)) == 4


def test_wrong_checksum_is_refused_and_leaves_no_file(isolated, server, monkeypatch):
    url, root = server
    _serve_fashion(monkeypatch, url, root, bad="t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", data_dir=isolated / "dl")
    msg = str(err.value)
    assert "failed its checksum" in msg and "t10k-images-idx3-ubyte.gz" in msg and "'fashion-mnist'" in msg
    left = _leftovers(isolated / "dl" / "fashion-mnist")
    assert "t10k-images-idx3-ubyte.gz" not in left and not [n for n in left if n.startswith(".partial")]
    assert len(left) == 3  # the three good files were kept, so a retry fetches only the bad one


def test_fetch_is_atomic(tmp_path, server):
    url, root = server
    (root / "blob.bin").write_bytes(b"x" * 100_000)
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(DataError, match="checksum"):
        fetch(url + "blob.bin", dest, "f" * 32)
    assert list((tmp_path / "out").iterdir()) == []
    assert fetch(url + "blob.bin", dest, md5(root / "blob.bin")).read_bytes() == b"x" * 100_000


def test_server_down_gives_a_clear_error(isolated, monkeypatch):
    serve_files_from(monkeypatch, "mnist", f"http://127.0.0.1:{_closed_port()}/")
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_dir=isolated / "dl")
    msg = str(err.value)
    assert "'mnist' was not found and could not be downloaded" in msg
    assert "Connection refused" in msg and "train-images-idx3-ubyte.gz" in msg
    assert str(isolated / "dl" / "mnist") in msg
    assert not (isolated / "dl" / "mnist").exists()


def test_missing_file_on_server(isolated, server, monkeypatch):
    url, root = server
    _serve_fashion(monkeypatch, url, root)
    (root / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="404"):
        load_dataset("fashion-mnist", data_dir=isolated / "dl")
    assert np.all([not n.startswith(".partial") for n in _leftovers(isolated / "dl")])
