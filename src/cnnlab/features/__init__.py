"""Hand-crafted image features and classical linear classifiers, the course's pre-CNN baseline.

    from cnnlab.features import FeatureRunConfig, run_features
    result = run_features(FeatureRunConfig("hog", "fashion-mnist", classifier="svm"), "runs/hog-svm")
    print(result.results["test_acc"])

Extractors (`EXTRACTORS`, joined with '+'): pixels, color-hist, hog, bovw. Classifiers
(`CLASSIFIERS`): svm, rbf-svm (Nystroem RBF features + linear SVM), logreg, perceptron. The run folder follows docs/design.md (kind "features").
"""
from cnnlab.features._base import FeatureExtractor, FeatureOptions
from cnnlab.features.bovw import BagOfVisualWords
from cnnlab.features.cache import FeatureCache
from cnnlab.features.classifiers import CLASSIFIERS, ClassifierOptions, build_classifier, linear_weights, list_classifiers
from cnnlab.features.compute import FeatureSet, compute_features, transform_batched
from cnnlab.features.extractors import (
    EXTRACTORS,
    ColorHistogram,
    Concatenation,
    Hog,
    Pixels,
    build_extractor,
    list_extractors,
)
from cnnlab.features.perceptron import Perceptron
from cnnlab.features.run import FeatureRunConfig, FeatureRunResult, read_weights, run_features

__all__ = [
    "EXTRACTORS", "CLASSIFIERS", "FeatureExtractor", "FeatureOptions", "ClassifierOptions",
    "Pixels", "ColorHistogram", "Hog", "BagOfVisualWords", "Concatenation", "Perceptron",
    "build_extractor", "list_extractors", "build_classifier", "list_classifiers", "linear_weights",
    "FeatureCache", "FeatureSet", "compute_features", "transform_batched",
    "FeatureRunConfig", "FeatureRunResult", "run_features", "read_weights",
]
