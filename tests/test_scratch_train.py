"""The from-scratch ConvNet learns: overfits 100 images, beats chance in one epoch; SGD and modes are right."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab import scratch as S
from cnnlab.errors import DataError
from cnnlab.scratch.data import split_to_numpy

from eval_support import run_cli


@pytest.fixture(scope="module")
def bundle():
    """Real Fashion-MNIST when its files are on this machine (never downloaded here), else scikit-learn's digits."""
    from cnnlab.data import load_dataset

    try:
        return load_dataset("fashion-mnist", download=False, val_fraction=0.0)
    except DataError:
        return load_dataset("digits", download=False, val_fraction=0.0)


def make_model(bundle, seed: int = 0) -> S.Sequential:
    return S.scratch_convnet(bundle.in_channels, bundle.image_size, bundle.num_classes, seed=seed)


def test_initial_loss_is_about_ln_num_classes(bundle) -> None:
    x, y = split_to_numpy(bundle.train, bundle.mean, bundle.std, limit=64)
    loss, _ = S.softmax_cross_entropy(make_model(bundle).forward(x), y)
    assert loss == pytest.approx(np.log(bundle.num_classes), abs=0.05)


def test_convnet_overfits_100_training_images(bundle) -> None:
    x, y = split_to_numpy(bundle.train, bundle.mean, bundle.std, limit=100, seed=0)
    model = make_model(bundle)
    history = S.fit(model, x, y, epochs=30, batch_size=20, lr=0.05, momentum=0.9)
    assert history[-1].train_loss < history[0].train_loss / 5
    assert S.accuracy(model, x, y) == 1.0


def test_one_epoch_learns_well_above_chance(bundle) -> None:
    x, y = split_to_numpy(bundle.train, bundle.mean, bundle.std, limit=2000, seed=0)
    x_test, y_test = split_to_numpy(bundle.test, bundle.mean, bundle.std, limit=1000, seed=1)
    history = S.fit(make_model(bundle), x, y, epochs=1, batch_size=32, lr=0.02, x_val=x_test, y_val=y_test)
    chance = 1 / bundle.num_classes
    assert history[0].val_acc > 5 * chance  # 0.5 for ten classes; about 0.7 in practice


def test_naive_and_im2col_networks_compute_the_same() -> None:
    x, y = np.random.default_rng(0).normal(size=(4, 2, 6, 6)), np.array([0, 1, 2, 0])
    grads = []
    for impl in ("naive", "im2col"):
        model = S.scratch_convnet(2, 6, 3, filters=3, hidden=5, conv_impl=impl, seed=1)
        _, dscores = S.softmax_cross_entropy(model.forward(x), y)
        grads.append(model.backward(dscores))
        grads.append(model.layers[0].grads["w"])
    assert S.rel_error(grads[0], grads[2]) < 1e-10 and S.rel_error(grads[1], grads[3]) < 1e-10


def test_sgd_matches_torch_sgd_with_momentum_and_weight_decay() -> None:
    layer = S.Linear(3, 2, rng=np.random.default_rng(0))
    net = S.Sequential([layer])
    ref = torch.nn.Parameter(torch.from_numpy(layer.params["w"].copy()))
    ours = S.SGD(net, lr=0.1, momentum=0.9, weight_decay=0.01)
    theirs = torch.optim.SGD([ref], lr=0.1, momentum=0.9, weight_decay=0.01)
    for step in range(5):
        grad = np.random.default_rng(step).normal(size=(2, 3))
        layer.grads = {"w": grad, "b": np.zeros(2)}
        ref.grad = torch.from_numpy(grad.copy())
        ours.step()
        theirs.step()
    assert S.rel_error(layer.params["w"], ref.detach().numpy()) < 1e-12


def test_eval_mode_switches_dropout_and_batchnorm() -> None:
    rng = np.random.default_rng(0)
    net = S.Sequential([S.Linear(4, 4, rng=rng), S.BatchNorm1d(4), S.Dropout(0.5, rng=rng)])
    x = rng.normal(size=(8, 4))
    net.train()
    assert not np.allclose(net.forward(x), net.forward(x))  # a new dropout mask each call
    net.eval()
    assert all(not layer.training for layer in net.layers)
    first = net.forward(x)
    assert np.array_equal(first, net.forward(x))  # deterministic
    assert np.allclose(net.forward(x[:1]), first[:1], rtol=1e-12)  # running statistics: independent of the batch


def test_scratch_train_command_on_digits(capsys) -> None:
    code, out, _ = run_cli(["scratch", "train", "--dataset", "digits", "--samples", "300", "--test-samples", "100",
                            "--epochs", "2", "--batch-size", "16", "--lr", "0.05"], capsys)
    assert code == 0, out
    assert "initial loss 2.3" in out and "epoch 2:" in out
    final_test_acc = float(out.rsplit("test acc", 1)[1])
    assert final_test_acc > 0.5


def test_scratch_train_missing_data_suggests_digits(capsys, monkeypatch) -> None:
    import cnnlab.data

    def missing(*args, **kwargs):
        raise DataError("fashion-mnist not found in /nowhere")

    monkeypatch.setattr(cnnlab.data, "load_dataset", missing)
    code, _, err = run_cli(["scratch", "train", "--no-download"], capsys)
    assert code == 2
    assert "not found" in err and "--dataset digits" in err and "Traceback" not in err


def test_scratch_train_bad_conv_implementation_exits_2(capsys) -> None:
    code, _, err = run_cli(["scratch", "train", "-d", "digits", "-n", "20", "--conv", "fft"], capsys)
    assert code == 2 and "im2col" in err
