"""`cnnlab features` end to end on scikit-learn's digits, and `cnnlab viz templates` on its runs."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cnnlab.cli import main
from cnnlab.features import read_weights
from cnnlab.viz.templates import templates_from_run


def cnnlab(*args: str) -> int:
    """Run the CLI in-process; its exit code."""
    try:
        main([str(a) for a in args])
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


@pytest.fixture(scope="module")
def hog_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    # digits are 8x8: upscaled to 32x32 they hold 4x4 HoG cells of 8x8 pixels
    args = ["features", "hog", "--data", "digits", "--image-size", "32", "--limit", "400", "-q",
            "--cache-dir", root / "cache"]
    assert cnnlab(*args, "--out", root / "first") == 0
    assert cnnlab(*args, "--out", root / "second") == 0
    return root


def test_features_run_writes_the_run_folder(hog_run, capsys):
    run = hog_run / "first"
    meta = json.loads((run / "meta.json").read_text())
    results = json.loads((run / "results.json").read_text())
    assert meta["kind"] == "features" and meta["method"] == "hog" and meta["classifier"] == "svm"
    assert meta["dataset"] == "digits" and meta["classes"] == [str(d) for d in range(10)]
    assert meta["input_size"] == [32, 32] and meta["in_channels"] == 1
    assert meta["feature_dim"] == results["feature_dim"] == 3 * 3 * 4 * 9  # 4x4 cells -> 3x3 blocks of 2x2
    assert results["n_train"] == 400 and results["n_test"] == 360
    assert results["test_acc"] > 0.85  # HoG + linear SVM on digits; chance is 0.10
    assert results["fit_time_s"] >= 0 and not results["features_cached"]
    with (run / "confusion.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == meta["classes"]
    counts = np.array([[int(v) for v in row[1:]] for row in rows[1:]])
    assert counts.sum() == results["n_test"]
    assert np.trace(counts) / counts.sum() == pytest.approx(results["test_acc"])
    weight, bias = read_weights(run)
    assert weight.shape == (10, meta["feature_dim"]) and bias.shape == (10,)


def test_second_run_uses_the_cached_features(hog_run):
    first = json.loads((hog_run / "first" / "results.json").read_text())
    second = json.loads((hog_run / "second" / "results.json").read_text())
    assert second["features_cached"] and second["extract_time_s"] == 0
    assert second["test_acc"] == first["test_acc"]
    assert len(list((hog_run / "cache").glob("digits-hog-*.npz"))) == 1


def test_compare_lists_a_feature_run(hog_run):
    from cnnlab.eval.compare import compare_runs

    row = compare_runs([hog_run / "first"]).rows[0]
    assert row["kind"] == "features" and row["model"] == "hog + svm"
    assert row["test_acc"] == json.loads((hog_run / "first" / "results.json").read_text())["test_acc"]


def test_unknown_method_exits_2_with_a_clear_message(tmp_path, capsys):
    assert cnnlab("features", "sift", "--data", "digits", "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "unknown feature method 'sift'" in err and "hog" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_too_small_images_for_hog_exit_2(tmp_path, capsys):
    assert cnnlab("features", "hog", "--data", "digits", "--limit", "50", "--no-cache", "--out", tmp_path / "run") == 2
    assert "--image-size" in capsys.readouterr().err


def test_templates_of_a_pixels_run(tmp_path):
    run = tmp_path / "pixels"
    assert cnnlab("features", "pixels", "--data", "digits", "--classifier", "logreg", "--limit", "300", "-q",
                  "--out", run) == 0
    assert cnnlab("viz", "templates", run) == 0
    assert (run / "figures" / "templates.png").stat().st_size > 0
    templates = templates_from_run(run)
    weight, _ = read_weights(run)
    assert templates.images.shape == (10, 8, 8) and templates.classes == [str(d) for d in range(10)]
    np.testing.assert_array_equal(templates.images[3], weight[3].reshape(8, 8))


def test_templates_refuse_a_hog_run(hog_run, capsys):
    assert cnnlab("viz", "templates", hog_run / "first") == 2
    assert "pixels" in capsys.readouterr().err


def test_templates_refuse_a_kernel_svm_run(tmp_path, capsys):
    run = tmp_path / "rbf"
    assert cnnlab("features", "pixels", "--data", "digits", "--classifier", "rbf-svm", "--limit", "300", "-q",
                  "--out", run) == 0
    assert cnnlab("viz", "templates", run) == 2
    assert "no linear weights" in capsys.readouterr().err


def test_templates_of_a_trained_linear_model(tmp_path):
    """A `cnnlab train` run of the `linear` model: templates are fc.weight per 0..1 pixel (divided by std)."""
    from cnnlab.models import create_model
    from cnnlab.runs import save_checkpoint

    meta = {"kind": "cnn", "model": "linear", "model_kwargs": {}, "num_classes": 3, "in_channels": 3,
            "input_size": [4, 5], "classes": ["a", "b", "c"], "dataset": "toy", "mean": [0.5] * 3, "std": [0.5, 0.25, 1.0]}
    model = create_model("linear", num_classes=3, in_channels=3, input_size=(4, 5))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    save_checkpoint({"format_version": 1, "meta": meta, "model": model.state_dict()}, tmp_path / "checkpoints" / "best.pt")

    templates = templates_from_run(tmp_path)
    weight = model.fc.weight.detach().numpy().reshape(3, 3, 4, 5) / np.array(meta["std"]).reshape(1, 3, 1, 1)
    assert templates.images.shape == (3, 4, 5, 3)
    np.testing.assert_allclose(templates.images, weight.transpose(0, 2, 3, 1), rtol=1e-6)
    assert cnnlab("viz", "templates", tmp_path, "--out", tmp_path / "t.png") == 0
    assert (tmp_path / "t.png").stat().st_size > 0


def test_hflip_trains_on_mirrors_and_scores_both_views(tmp_path):
    """--hflip: the classifier sees every training image twice (as is, mirrored), and a test image's
    class is the argmax of the summed scores of the image and its mirror."""
    from cnnlab.features import ClassifierOptions, FeatureRunConfig, build_classifier, run_features
    from cnnlab.features.run import MIRROR, load_splits, with_mirrors

    config = FeatureRunConfig("pixels", "digits", classifier="logreg", limit=300, hflip=True, use_cache=False,
                              classifier_options=ClassifierOptions(max_iter=300))
    result = run_features(config, tmp_path / "run", show_progress=False)
    assert result.results["n_train"] == 300 and result.results["hflip"]

    _, splits = load_splits(config)
    mirrored = with_mirrors(splits)
    assert np.array_equal(mirrored["test" + MIRROR][0], splits["test"][0][..., ::-1])
    assert np.array_equal(mirrored["test" + MIRROR][1], splits["test"][1])
    flat = {name: images.reshape(len(images), -1) / 255.0 for name, (images, _) in mirrored.items()}
    reference = build_classifier("logreg", ClassifierOptions(max_iter=300), standardize=False)
    reference.fit(np.concatenate([flat["train"], flat["train" + MIRROR]]), np.tile(splits["train"][1], 2))
    scores = reference.decision_function(flat["test"]) + reference.decision_function(flat["test" + MIRROR])
    assert result.results["test_acc"] == pytest.approx((scores.argmax(1) == splits["test"][1]).mean())
    assert cnnlab("features", "pixels", "--data", "digits", "--limit", "200", "--hflip", "-q", "--no-cache",
                  "--out", tmp_path / "cli") == 0
    assert json.loads((tmp_path / "cli" / "results.json").read_text())["hflip"]


def test_more_pca_components_than_the_features_have_exit_2(tmp_path, capsys):
    code = cnnlab("features", "pixels", "--data", "digits", "--limit", "100", "--pca", "5000", "-q", "--no-cache",
                  "--out", tmp_path / "run")
    assert code == 2
    assert "--pca 64 or fewer" in capsys.readouterr().err  # digits: 100 samples of 64 pixels
