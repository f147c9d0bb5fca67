"""End to end: train a tiny run on scikit-learn's digits (offline), then eval, predict, report, compare."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn import metrics as skm

import cnnlab
from cnnlab.eval import compare_runs, evaluate, predict
from cnnlab.eval.report import SECTIONS
from eval_support import run_cli, write_fake_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of the linear classifier on digits; the trainer writes the report through cnnlab.eval."""
    run_dir = tmp_path_factory.mktemp("e2e") / "digits-run"
    from cnnlab.training import train

    result = train("linear", "digits", epochs=1, batch_size=64, run_dir=str(run_dir), quiet=True, device="cpu")
    assert result.status == "completed"
    return run_dir


@pytest.fixture(scope="module")
def test_split() -> tuple[torch.Tensor, torch.Tensor]:
    bundle = cnnlab.load_dataset("digits")
    return bundle.test.images, bundle.test.labels


def test_training_wrote_the_report(run: Path) -> None:
    html = (run / "report.html").read_text()
    assert all(f'<section id="{s}">' in html for s in SECTIONS)
    assert (run / "figures" / "confusion_matrix.png").exists()


def test_evaluate_matches_sklearn_and_the_trainer(run: Path, test_split: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = test_split
    result = evaluate(run)
    loaded = cnnlab.load_model(run)
    meta = loaded.meta
    x = (images.float() / 255 - torch.tensor(meta["mean"]).view(1, -1, 1, 1)) / torch.tensor(meta["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        probs = loaded.model(x).double().softmax(1)
    y, p = labels.numpy(), probs.argmax(1).numpy()
    m = result.metrics
    assert m.num_samples == len(y)
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, p))
    np.testing.assert_array_equal(m.confusion, skm.confusion_matrix(y, p, labels=range(10)))
    prec, rec, f1, _ = skm.precision_recall_fscore_support(y, p, labels=range(10), zero_division=0)
    np.testing.assert_allclose(m.f1, f1, atol=1e-12)
    assert m.topk[5] == pytest.approx(skm.top_k_accuracy_score(y, probs.numpy(), k=5, labels=range(10)))
    assert m.loss == pytest.approx(skm.log_loss(y, probs.double().numpy(), labels=range(10)), rel=1e-4)
    results = json.loads((run / "results.json").read_text())
    assert m.accuracy == pytest.approx(results["test_acc"])
    torch.testing.assert_close(result.probs.double(), probs, atol=1e-5, rtol=1e-4)


def test_predict_on_written_images_agrees_with_evaluate(run: Path, test_split: tuple[torch.Tensor, torch.Tensor], tmp_path: Path) -> None:
    images, _ = test_split
    for i in range(6):  # the test images exactly as stored: 8x8 gray PNGs
        Image.fromarray(images[i, 0].numpy(), "L").save(tmp_path / f"{i}.png")
    big = Image.fromarray(images[0, 0].numpy(), "L").resize((97, 97), Image.NEAREST).convert("RGB")
    big.save(tmp_path / "big.jpg")
    (tmp_path / "bad.png").write_text("not an image")
    result = predict(run, [tmp_path], topk=3)
    assert [Path(p).name for p, _ in result.skipped] == ["bad.png"]
    evaluation = evaluate(run)
    by_name = {Path(p.path).name: p for p in result.predictions}
    for i in range(6):
        top = evaluation.probs[i].topk(3)
        assert [c for c, _ in by_name[f"{i}.png"].topk] == [str(int(k)) for k in top.indices]
        np.testing.assert_allclose([q for _, q in by_name[f"{i}.png"].topk], top.values.numpy(), atol=1e-5)
    assert "big.jpg" in by_name


def test_cli_on_a_trained_run(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_cli(["eval", run, "--json", "--tta", "flip"], capsys)
    data = json.loads(out)
    assert code == 0 and data["tta"] == "flip" and data["num_samples"] == 360 and len(data["confusion"]) == 10
    code, out, _ = run_cli(["eval", run, "--split", "val"], capsys)
    assert code == 0 and "accuracy" in out and "confusion matrix" in out
    code, _, err = run_cli(["eval", run, "--data", "no-such-dataset"], capsys)
    assert code == 2 and "no-such-dataset" in err and "Traceback" not in err

    Image.fromarray(np.full((30, 20), 200, np.uint8)).save(tmp_path / "a.bmp")
    code, out, _ = run_cli(["predict", run, tmp_path / "a.bmp", "--csv", "-k", "2"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == "path,rank,class,prob" and len(lines) == 3
    (tmp_path / "b.png").write_text("text")
    code, _, err = run_cli(["predict", run, tmp_path / "b.png"], capsys)
    assert code == 2 and "skipped" in err and "readable image" in err

    (run / "report.html").unlink()
    code, out, _ = run_cli(["report", run], capsys)
    assert code == 0 and (run / "report.html").exists()


def test_compare_trained_and_fake_feature_run(run: Path, tmp_path: Path) -> None:
    feat = write_fake_run(tmp_path / "feat", kind="features", epochs=0, model="hog+svm")
    comparison = compare_runs([run, feat])
    assert comparison.rows[0]["test_acc"] == pytest.approx(json.loads((run / "results.json").read_text())["test_acc"])
    assert len(comparison.curves["digits-run"]) == 1


@pytest.mark.parametrize("level", ["flip", "translate", "grid"])
def test_a_tta_run_is_reproduced_by_eval_and_its_report(tmp_path: Path, level: str) -> None:
    """A run trained with tta (and channels-last): results.json, `evaluate(tta=LEVEL)` and the
    report's default evaluation give the same test accuracy and loss (one TTA rule: mean
    logits; the run's memory format)."""
    from cnnlab.eval.report import _default_evaluation
    from cnnlab.training import train

    result = train("lenet5_relu", "digits", epochs=1, batch_size=64, image_size=28, tta=level, report=False,
                   channels_last=True, run_dir=str(tmp_path / "tta-run"), quiet=True,
                   device="cpu")
    results = result.results
    views = {"grid": "flip + 3x3 translate TTA)", "translate": "flip + translate TTA)", "flip": "flip TTA)"}[level]
    assert results["evaluated"].endswith(views)
    evaluated = evaluate(tmp_path / "tta-run", tta=level)
    assert evaluated.metrics.accuracy == results["test_acc"]
    assert evaluated.metrics.loss == pytest.approx(results["test_loss"], rel=1e-6)
    in_report = _default_evaluation(tmp_path / "tta-run", "cnn", "cpu")
    assert in_report is not None and in_report.tta == level
    assert in_report.metrics.accuracy == results["test_acc"]
    assert evaluate(tmp_path / "tta-run").tta == "none"  # `cnnlab eval` without --tta stays plain


def test_a_run_with_a_tta_share_is_reproduced_by_eval_and_its_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """tta_share: results.json, `evaluate(tta=..., tta_share=...)` and the report agree, and say so."""
    from cnnlab.eval.report import _default_evaluation
    from cnnlab.training import train

    result = train("lenet5_relu", "digits", epochs=1, batch_size=64, image_size=28, tta="translate", tta_share=0.25,
                   report=False, run_dir=str(tmp_path / "run"), quiet=True, device="cpu")
    assert result.results["evaluated"].endswith("flip + translate TTA on the 25% least confident)")
    evaluated = evaluate(tmp_path / "run", tta="translate", tta_share=0.25)
    assert evaluated.metrics.accuracy == result.results["test_acc"] and evaluated.to_dict()["tta_share"] == 0.25
    in_report = _default_evaluation(tmp_path / "run", "cnn", "cpu")
    assert in_report is not None and in_report.tta_share == 0.25
    assert in_report.metrics.accuracy == result.results["test_acc"]
    code, out, _ = run_cli(["eval", tmp_path / "run"], capsys)    # plain views, and how to get the run's figure
    assert code == 0 and "add --tta translate --tta-share 0.25 to reproduce it" in out
    code, out, _ = run_cli(["eval", tmp_path / "run", "--tta", "translate", "--tta-share", "0.25"], capsys)
    assert code == 0 and f"{result.results['test_acc']:.2%}" in out and "to reproduce it" not in out
