"""Registry-wide model tests (timm style): every registered model, every input size.

Each model is built for the input it gets: (2,1,28,28), (2,3,32,32) and (1,3,224,224), with a
non-default class count. The 224x224 builds of the largest models are marked slow.
"""
from __future__ import annotations

import pytest
import torch

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.models import create_model, list_models
from cnnlab.models._base import ImageClassifier
from cnnlab.models._shapes import output_hw
from models_support import DEEP

MODELS = list_models()
NUM_CLASSES = 7
INPUTS = {"gray28": (2, 1, 28, 28), "rgb32": (2, 3, 32, 32), "rgb224": (1, 3, 224, 224)}
TINY_GRAY, TINY_RGB = (2, 1, 16, 16), (2, 3, 16, 16)  # small-stem inputs for the backward/reset checks
# The deep variants (see models_support) and all 224x224 VGG/AlexNet runs are marked slow.
HEAVY_AT_224 = DEEP | {"vgg11", "vgg11_bn", "alexnet", "alexnet_2012"}


def _params(names=MODELS):
    return [pytest.param(n, marks=[pytest.mark.slow] if n in DEEP else []) for n in names]


def _cases():
    for name in MODELS:
        for key, shape in INPUTS.items():
            heavy = name in DEEP or (key == "rgb224" and name in HEAVY_AT_224)
            yield pytest.param(name, shape, id=f"{name}-{key}", marks=[pytest.mark.slow] if heavy else [])


def build(name: str, shape: tuple[int, ...], num_classes: int = NUM_CLASSES, **kwargs) -> ImageClassifier:
    torch.manual_seed(0)
    return create_model(name, num_classes=num_classes, in_channels=shape[1], input_size=shape[2:], **kwargs)


@pytest.mark.parametrize("name,shape", list(_cases()))
def test_forward_shape_finite_and_feature_size(name, shape):
    model = build(name, shape).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        features = model.forward_features(x)
        out = model.forward_head(features)
    assert out.shape == (shape[0], NUM_CLASSES)
    assert torch.isfinite(out).all()
    assert model.num_classes == NUM_CLASSES
    if features.dim() == 4:
        assert features.shape[1] == model.num_features
        # the arithmetic the models use for flatten sizes and minimum inputs agrees with torch
        assert tuple(features.shape[-2:]) == output_hw(model.feature_modules(), shape[-2:])
        if shape[-1] <= 64:  # the small-input stem does not end in a 1x1 map
            assert min(features.shape[-2:]) >= 2, f"{name} ends in {tuple(features.shape[-2:])} on {shape}"


@pytest.mark.parametrize("name", _params())
def test_gradient_reaches_every_parameter(name):
    model = build(name, TINY_GRAY).train()
    out = model(torch.randn(TINY_GRAY))
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", _params())
def test_reset_classifier_and_pre_logits(name):
    model = build(name, TINY_RGB).eval()
    x = torch.randn(TINY_RGB)
    model.reset_classifier(3)
    with torch.no_grad():
        assert model(x).shape == (2, 3)
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
    assert model.num_classes == 3
    assert pre.dim() == 2 and pre.shape[0] == 2
    with pytest.raises(ConfigError):
        model.reset_classifier(0)


@pytest.mark.parametrize("name", _params())
def test_min_input_size_is_exact(name):
    """Inputs of min_input_size run; one pixel less raises ShapeError, and torch itself fails there."""
    model = build(name, INPUTS["rgb32"]).eval()
    if model.fixed_input_size:
        pytest.skip("takes exactly its input_size (tested below)")
    need = model.min_input_size
    with torch.no_grad():
        assert model(torch.randn(1, 3, need, need)).shape == (1, NUM_CLASSES)
        if need > 1:
            with pytest.raises(ShapeError, match=rf"{name} needs inputs of at least {need}x{need}"):
                model(torch.randn(1, 3, need - 1, need - 1))
            with pytest.raises(RuntimeError):
                model.forward_features(torch.randn(1, 3, need - 1, need - 1))


def test_fixed_size_models_name_the_size_and_the_fix():
    model = create_model("alexnet_2012")  # the paper's 227x227
    with pytest.raises(ShapeError, match=r"alexnet_2012 takes exactly 227x227 .* got 8x8; resize the images to 227x227"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ShapeError, match=r"alexnet_2012 cannot be built for 8x8 inputs: .* at least 15x15 "
                                          r"\(`--image-size 15` on the command line, `image_size=15` in cnnlab.train\)"):
        create_model("alexnet_2012", input_size=8)
    with pytest.raises(ShapeError, match=r"lenet5 takes exactly 28x28 .* input_size=\(32, 32\)"):
        create_model("lenet5")(torch.randn(1, 1, 32, 32))


def test_too_small_input_for_an_imagenet_stem_suggests_the_small_stem():
    model = create_model("densenet121", num_classes=10)
    with pytest.raises(ShapeError, match=r"at least 29x29.*small-input stem"):
        model(torch.randn(1, 3, 16, 16))


def test_wrong_channels_and_rank_raise_shape_error():
    model = create_model("resnet18", num_classes=10, in_channels=1, input_size=28)
    with pytest.raises(ShapeError, match=r"resnet18 was built for 1-channel images but got 3 channels; build it with in_channels=3"):
        model(torch.randn(2, 3, 28, 28))
    with pytest.raises(ShapeError, match=r"unsqueeze"):
        model(torch.randn(1, 28, 28))


@pytest.mark.parametrize("kwargs", [dict(num_classes=0), dict(num_classes=2.5), dict(in_channels=0),
                                    dict(input_size=0), dict(input_size="big")])
def test_bad_arguments_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        create_model("resnet18", **kwargs)


def test_unknown_model_and_unknown_option_raise_helpful_config_error():
    with pytest.raises(ConfigError, match=r"unknown model 'resnet19'.*resnet18.*cnnlab models"):
        create_model("resnet19")
    with pytest.raises(ConfigError, match=r"vgg11 has no option 'dropout'; it accepts: .*drop_rate"):
        create_model("vgg11", dropout=0.3)
    with pytest.raises(ConfigError, match=r"unknown activation layer 'relu7'"):
        create_model("resnet18", act_layer="relu7")


def test_kwargs_reach_the_constructor():
    assert create_model("mlp", hidden_size=33).classifier[0].out_features == 33
    assert create_model("resnet18", drop_rate=0.25).drop.p == 0.25
    with torch.device("meta"):  # the ImageNet head is 120M parameters: no need to initialise them
        assert create_model("vgg11", input_size=32, small_stem=False).features[4].pool  # ImageNet stem on request
    gn = create_model("resnet18", num_classes=3, input_size=32, norm_layer="groupnorm")
    assert isinstance(gn.layer1[0].bn1, torch.nn.GroupNorm) and gn(torch.randn(1, 3, 32, 32)).shape == (1, 3)


def test_nin_small_bn_normalises_every_conv_but_the_class_maps():
    from cnnlab.models import train_defaults

    plain, bn = build("nin_small", INPUTS["gray28"]), build("nin_small_bn", INPUTS["gray28"])
    convs = [m for m in bn.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in bn.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 12 and len(norms) == len(convs) - 1
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in list(bn.classifier[0])[-2:])  # logits: conv -> ReLU
    assert not any(isinstance(m, torch.nn.Linear) for m in bn.modules())  # still no dense layer
    assert [c.weight.shape for c in convs] == [c.weight.shape for c in plain.modules() if isinstance(c, torch.nn.Conv2d)]
    assert train_defaults("nin_small_bn").optimizer == "sgd" != train_defaults("nin_small").optimizer


def test_googlenet_aux_logits_in_training_mode():
    model = build("googlenet", INPUTS["rgb32"], aux_logits=True).train()
    logits, aux2, aux1 = model(torch.randn(INPUTS["rgb32"]))
    assert logits.shape == aux2.shape == aux1.shape == (2, NUM_CLASSES)
    model.reset_classifier(4)
    assert [t.shape[1] for t in model(torch.randn(INPUTS["rgb32"]))] == [4, 4, 4]
    assert model.eval()(torch.randn(INPUTS["rgb32"])).shape == (2, 4)


def test_models_registered_for_a_block_leave_the_registry_as_it_was():
    from cnnlab.models import registered

    def _tiny_test_model(**kwargs) -> torch.nn.Module:
        """Test-only."""
        return create_model("linear", **kwargs)

    before = list_models()
    with registered(_tiny_test_model) as names:
        assert names == ["_tiny_test_model"] and "_tiny_test_model" in list_models()
        assert create_model("_tiny_test_model", num_classes=3, in_channels=1, input_size=8)(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    assert list_models() == before
    assert not [name for name in list_models() if name.startswith("_test")]  # nothing test-only at import
