"""The run report and the comparison page: every section present, self-contained, figures written."""
from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.eval import compare_runs, write_comparison, write_report
from cnnlab.eval.report import SECTIONS
from eval_support import CLASSES, fake_evaluation, write_fake_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects section ids, <img> sources, every URL-like attribute and the text of table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []
        self.cells: list[str] = []
        self.captions: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs["src"])
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag in ("td", "figcaption"):
            self._in = tag
            (self.cells if tag == "td" else self.captions).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "td":
            self.cells[-1] += data
        elif self._in == "figcaption":
            self.captions[-1] += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _decode_png(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data.startswith(PNG_MAGIC)
    return Image.open(io.BytesIO(data))


def test_report_has_every_section_and_is_self_contained(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run")
    evaluation = fake_evaluation()
    path = write_report(run, evaluation=evaluation)
    assert path == run / "report.html"
    page = _parse(path)
    assert page.sections == list(SECTIONS)
    # no external resources: every src/href is an in-page anchor or an inline image
    assert all(u.startswith("#") or u.startswith("data:image/png;base64,") for u in page.urls), page.urls
    html = path.read_text()
    assert "http://" not in html and "https://" not in html
    for uri in page.images:
        assert _decode_png(uri).size[0] > 0
    for name in ("learning_curves", "confusion_matrix", "per_class", "mistakes"):
        assert (run / "figures" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)

    m = evaluation.metrics
    # per-class table: one row per class with the metrics rounded to 3 decimals
    for row in m.per_class():
        i = page.cells.index(row["class"])
        assert page.cells[i + 1 : i + 5] == [f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"])]
    # gallery: the mistakes, most confident first, captioned with true and predicted label
    assert len(evaluation.mistakes) > 0
    assert len(page.captions) == len(evaluation.mistakes)
    for caption, mistake in zip(page.captions, evaluation.mistakes):
        assert f"true: {CLASSES[mistake.true]}" in caption and f"pred: {CLASSES[mistake.pred]}" in caption
    # summary, config and environment come from the run's files
    assert "TOTAL_PARAMS_MARK" in html and "lr: 0.1" in html and "<th>threads.intra</th><td>2</td>" in html
    assert f"{m.accuracy:.2%}" in html and "85.00%" in html  # the evaluation and results.json (best val)


def test_report_without_evaluation_or_metrics(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "feat", kind="features", epochs=0, model="hog+svm")
    page = _parse(write_report(run))
    assert page.sections == list(SECTIONS)
    assert page.images == []
    assert not (run / "figures").exists()


def test_compare_mixes_cnn_and_feature_runs(tmp_path: Path) -> None:
    a = write_fake_run(tmp_path / "a", epochs=3)
    b = write_fake_run(tmp_path / "b", epochs=5, model="lenet5")
    f = write_fake_run(tmp_path / "f", kind="features", epochs=0, model="hog+svm")
    (f / "results.json").write_text('{"test_acc": 0.8125, "val_acc": 0.5}')  # feature runs name it val_acc
    comparison = compare_runs([a, b, f])
    assert comparison.rows[2]["best_val_acc"] == 0.5 and comparison.rows[2]["params"] is None
    assert [r["name"] for r in comparison.rows] == ["a", "b", "f"]
    assert [r["kind"] for r in comparison.rows] == ["cnn", "cnn", "features"]
    assert [len(c) for c in comparison.curves.values()] == [3, 5, 0]
    assert comparison.rows[1]["model"] == "lenet5" and comparison.rows[2]["test_acc"] == 0.8125
    path = write_comparison([a, b, f], tmp_path / "out")
    page = _parse(path)
    assert page.sections == ["table", "curves"]
    assert len(page.images) == 1 and _decode_png(page.images[0]).size[0] > 0
    assert (tmp_path / "out" / "compare_curves.png").exists()
    assert page.cells.count("81.25%") == 3 and "hog+svm" in page.cells


def test_compare_rejects_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    from cnnlab.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not a run folder"):
        compare_runs([tmp_path])


class _CountedPasses:
    """A loader that counts the passes over it."""

    def __init__(self, loader, passes: list) -> None:
        self.loader, self.passes = loader, passes

    def __iter__(self):
        self.passes.append(1)
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def test_a_finished_run_evaluates_the_test_split_exactly_once(tmp_path, monkeypatch):
    """results.json and the report take their test figures from one pass over the test split."""
    import json

    import cnnlab.data
    from cnnlab.data import load_dataset
    from cnnlab.training import train

    test_images = len(load_dataset("digits").test)
    passes: list = []
    make_loader = cnnlab.data.make_loader

    def counting_make_loader(split, *args, **kwargs):
        loader = make_loader(split, *args, **kwargs)
        return _CountedPasses(loader, passes) if len(split) == test_images else loader

    monkeypatch.setattr(cnnlab.data, "make_loader", counting_make_loader)
    result = train("linear", "digits", epochs=1, batch_size=64, threads=1, quiet=True, run_dir=str(tmp_path / "r"))
    assert len(passes) == 1
    html = (result.run_dir / "report.html").read_text()
    assert "Confusion matrix" in html and f"{result.results['test_acc']:.2%}" in html  # the report got that pass
    assert json.loads((result.run_dir / "results.json").read_text())["eval_split"] == "test"
