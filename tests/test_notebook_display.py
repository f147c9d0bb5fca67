"""The Jupyter displays (``_repr_html_``) and terminal reprs: structure and numbers of the HTML."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
import torch

from cnnlab.eval.metrics import compute_metrics
from cnnlab.eval.evaluate import EvalResult
from cnnlab.inspect import conv_arithmetic, summary
from cnnlab.models import create_model
from cnnlab.notebook import open_run
from cnnlab.notebook import LiveTraining
from cnnlab.scratch.explain import (COURSE_CHANNELS_INPUT, COURSE_CHANNELS_KERNEL, COURSE_CONV_INPUT,
                                    COURSE_CONV_KERNEL, COURSE_POOL_INPUT, explain_conv, explain_pool)
from cnnlab.training.callbacks import StartEvent, StepEvent
from eval_support import CLASSES, write_fake_run


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, with its class, caption and highlighted cells."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._caption = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "caption": "", "rows": [], "window": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []
            if attrs.get("class") == "window":
                table = self.tables[-1]
                table["window"].append((len(table["rows"]) - 1, len(table["rows"][-1])))
        elif tag == "caption":
            self._caption = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "caption":
            self._caption = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption:
            self.tables[-1]["caption"] += data

    def by_class(self, cls: str) -> list[dict]:
        return [t for t in self.tables if t["class"] == cls]


def test_summary_html_is_the_layer_table_with_totals():
    s = summary(create_model("lenet5", num_classes=10, in_channels=1, input_size=28), (1, 28, 28))
    page = Tables(s._repr_html_())
    layers, = page.by_class("layers")
    header, *rows = layers["rows"]
    assert header == ["layer", "type", "output", "params", "MACs", "receptive field"]
    assert "LeNet5: input 1x28x28 -> output 10" in layers["caption"]
    conv1 = next(r for r in rows if r[0] == "features.conv1")
    assert conv1[1:5] == ["Conv2d", "6x28x28", "156", f"{5 * 5 * 6 * 28 * 28:,}"]
    assert len(rows) == len(s.rows)
    totals, = page.by_class("totals")
    assert ["parameters", "61,706", "61.71 K"] in totals["rows"]
    assert repr(s) == str(s)                                    # the terminal shows the text table


def test_conv_html_substitutes_the_numbers_into_each_formula():
    report = conv_arithmetic((3, 32, 32), 5, padding=2, filters=10)
    layer, = Tables(report._repr_html_()).by_class("conv-layer")
    rows = {r[0]: r[1:] for r in layer["rows"][1:]}
    assert rows["output side"] == ["(N + 2P - D(F-1) - 1)/S + 1", "(32 + 2*2 - (5-1) - 1)/1 + 1 = 32"]
    assert rows["params"] == ["F*F*C*K + K", "5*5*3*10 + 10 = 760"]
    assert rows["MACs"][1].startswith(f"5*5*3 * 10*32*32 = {5 * 5 * 3 * 10 * 32 * 32:,}")
    assert "3x32x32 -> 10x32x32" in layer["caption"]
    assert repr(report) == str(report)


def test_conv_html_of_a_stack_and_of_pooling():
    stack = Tables(conv_arithmetic((64, 56, 56), 3, padding=1, filters=64, layers=3)._repr_html_())
    assert len(stack.by_class("conv-layer")) == 3
    totals, = stack.by_class("totals")
    assert ["params", f"{3 * (3 * 3 * 64 * 64 + 64):,}"] in totals["rows"]
    pool, = Tables(conv_arithmetic((96, 55, 55), 3, stride=2, pool="max")._repr_html_()).by_class("conv-layer")
    assert {r[0]: r[1] for r in pool["rows"][1:]}["params"] == "0"


def test_explain_conv_html_highlights_each_window_of_the_course_example():
    ex = explain_conv(COURSE_CONV_INPUT, COURSE_CONV_KERNEL)
    page = Tables(ex._repr_html_())
    grids = page.by_class("grid")
    assert len(grids) == 4 * 3                                  # 4 steps x (input, kernel, output)
    first_input, kernel, first_output = grids[:3]
    assert first_input["rows"] == [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]]
    assert sorted(first_input["window"]) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert kernel["rows"] == [["0", "1"], ["2", "3"]] and kernel["window"] == []
    assert first_output["rows"] == [["25", "31"], ["43", "49"]] and first_output["window"] == [(0, 0)]
    last_input = grids[9]
    assert sorted(last_input["window"]) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert "0x5 + 1x6 + 2x8 + 3x9 = 49" in ex._repr_html_()
    assert "output[1, 1]: 0x5 + 1x6 + 2x8 + 3x9 = 49" in repr(ex)


def test_explain_conv_html_with_channels_and_padding():
    ex = explain_conv(COURSE_CHANNELS_INPUT, COURSE_CHANNELS_KERNEL)
    page = ex._repr_html_()
    assert "(0x0 + 1x1 + 2x3 + 3x4 = 19) + (1x1 + 2x2 + 3x4 + 4x5 = 37) = 56" in page
    padded = Tables(explain_conv([[1, 2], [3, 4]], [[1]], padding=1)._repr_html_()).by_class("grid")[0]
    assert padded["rows"][0] == ["0", "0", "0", "0"] and len(padded["rows"]) == 4


def test_explain_pool_html_shows_the_max_of_each_window():
    ex = explain_pool(COURSE_POOL_INPUT)
    page = ex._repr_html_()
    grids = Tables(page).by_class("grid")
    assert len(grids) == 4 * 2
    assert sorted(grids[2]["window"]) == [(0, 2), (0, 3), (1, 2), (1, 3)]   # second step: top-right window
    assert grids[3]["rows"] == [["6", "8"], ["3", "4"]] and grids[3]["window"] == [(0, 1)]
    assert "max(2, 4, 7, 8) = 8" in page
    assert "max(1, 0, 3, 4) = 4" in repr(ex)


def _eval_result() -> EvalResult:
    labels = torch.tensor([0, 0, 1, 1, 2, 3, 3, 3])
    preds = torch.tensor([0, 1, 1, 1, 2, 3, 3, 0])
    logits = torch.nn.functional.one_hot(preds, 4).double() * 5
    metrics = compute_metrics(logits, labels, CLASSES, topk=(1, 2))
    return EvalResult(metrics, "fake", "test", "best.pt", False, logits.softmax(1), labels)


def test_eval_html_has_metrics_per_class_scores_and_the_confusion_matrix():
    result = _eval_result()
    page = Tables(result._repr_html_())
    metrics, = page.by_class("metrics")
    assert ["accuracy", "75.00%"] in metrics["rows"] and "fake, test split, 8 images" in metrics["caption"]
    assert ["top-2 accuracy", f"{result.metrics.topk[2]:.2%}"] in metrics["rows"]
    per_class, = page.by_class("per-class")
    assert per_class["rows"][1] == ["zero", "50.00%", "50.00%", "50.00%", "2"]
    confusion, = page.by_class("confusion")
    assert confusion["rows"][0] == ["", *CLASSES]
    assert confusion["rows"][1:] == [["zero", "1", "1", "0", "0"], ["one", "0", "2", "0", "0"],
                                     ["two", "0", "0", "1", "0"], ["three", "1", "0", "0", "2"]]
    assert repr(result).startswith("EvalResult(fake test, 8 images: accuracy 75.00%")


def test_run_html_shows_the_reports_key_figures_and_the_epochs(tmp_path):
    run = open_run(write_fake_run(tmp_path / "run", epochs=3))
    page = Tables(run._repr_html_())
    figures, = page.by_class("figures")
    cells = {r[0]: r[1] for r in figures["rows"][1:]}
    assert cells["test accuracy"] == "81.25%" and cells["parameters"] == "1,234"
    assert cells["state"] == "completed" and cells["model"] == "linear"
    epochs, = page.by_class("epochs")
    assert epochs["rows"][0][:3] == ["epoch", "train loss", "train acc"]
    assert epochs["rows"][3][:3] == ["3", f"{1.5 / 3:.4f}", "80.00%"]
    assert "test accuracy 81.25%" in repr(run)


def test_open_run_refuses_a_missing_folder(tmp_path):
    from cnnlab.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no run folder"):
        open_run(tmp_path / "nothing")


class Handle:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, obj) -> None:
        self.shown.append(obj.data)


def test_live_view_redraws_progress_and_curves_in_place(tmp_path, monkeypatch):
    import IPython.display

    handle = Handle()
    monkeypatch.setattr(IPython.display, "display", lambda obj, display_id=False: handle)
    live = LiveTraining(every=3600)                             # no time-based redraws: only epochs and the end
    model = torch.nn.Linear(2, 2)
    live.on_start(StartEvent(tmp_path, model, total_steps=4, steps_per_epoch=2, epochs=2, start_step=0))
    for step in range(1, 5):
        live.on_step(StepEvent(step, 4, (step - 1) // 2, loss=1.0 / step, train_loss=1.0 / step, train_acc=0.25 * step,
                               lr=0.1, images_per_s=100.0, model=model))
        if step % 2 == 0:
            live.on_epoch(dict(epoch=step // 2, step=step, train_loss=0.5, train_acc=0.5, val_loss=0.6, val_acc=0.55 + step / 100))
    assert len(handle.shown) == 2 and live.draws == 2
    assert 'value="4" max="4"' in handle.shown[-1] and "step 4/4" in handle.shown[-1]
    assert 'src="data:image/png;base64,' in handle.shown[-1]
    result = type("R", (), {"status": "interrupted", "run_dir": tmp_path, "results": {}})()
    with pytest.raises(KeyboardInterrupt, match="Continue with cnnlab.train"):
        live.on_end(result)
    assert "checkpoints/last.pt" in handle.shown[-1] and f"cnnlab.train(resume={str(tmp_path)!r}" in handle.shown[-1]
