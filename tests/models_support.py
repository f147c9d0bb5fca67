"""Shared settings of the model tests."""
from __future__ import annotations

# The deeper variants share every block with a shallower one tested by default (resnet18/50,
# se_resnet18, wrn16_4, densenet121, vgg11/vgg11_bn) and differ only in layer counts or widths; building and running them takes
# seconds each on one core, so their heavy checks run with `make test-slow`.
DEEP = {"resnet34", "resnet101", "resnet152", "densenet161", "densenet169", "densenet201",
        "vgg13", "vgg16", "vgg19", "vgg13_bn", "vgg16_bn", "vgg19_bn",
        "se_resnet34", "se_resnet50", "se_resnet101", "wide_resnet101_2", "wrn28_10"}
