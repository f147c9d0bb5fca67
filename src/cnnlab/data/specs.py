"""The named datasets: what each one is, as data.

Every entry names the torchvision dataset class that knows its files, checksums and mirrors;
`formats.py` reads the official files through that class. Nothing here touches the disk.
"""
from __future__ import annotations

from dataclasses import dataclass

from cnnlab.errors import ConfigError

FOLDER_PREFIX = "folder:"

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset.

    `format` is a key of `formats.FORMATS` (how the official files are read); `torchvision_class`
    is the name of the class in `torchvision.datasets` that owns the file names, checksums and
    mirrors (None for scikit-learn's digits, which ship with scikit-learn).
    `classes` is None when the names are only known from the files (CIFAR-100's meta file).
    """

    name: str
    title: str
    image_size: tuple[int, int]
    channels: int
    num_classes: int
    num_train: int
    num_test: int
    format: str
    torchvision_class: str | None
    classes: tuple[str, ...] | None = None
    homepage: str = ""


def _mnist_like(name: str, title: str, cls: str, homepage: str) -> DatasetSpec:
    return DatasetSpec(name, title, (28, 28), 1, 10, 60_000, 10_000, "idx", cls, homepage=homepage)


SPECS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _mnist_like("fashion-mnist", "Zalando's Fashion-MNIST clothing images", "FashionMNIST",
                    "https://github.com/zalandoresearch/fashion-mnist"),
        _mnist_like("mnist", "MNIST handwritten digits", "MNIST", "http://yann.lecun.com/exdb/mnist/"),
        _mnist_like("kmnist", "Kuzushiji-MNIST cursive Japanese characters", "KMNIST",
                    "https://github.com/rois-codh/kmnist"),
        DatasetSpec("cifar10", "CIFAR-10 tiny colour images", (32, 32), 3, 10, 50_000, 10_000, "cifar",
                    "CIFAR10", CIFAR10_CLASSES, "https://www.cs.toronto.edu/~kriz/cifar.html"),
        DatasetSpec("cifar100", "CIFAR-100 tiny colour images, 100 fine classes", (32, 32), 3, 100, 50_000,
                    10_000, "cifar", "CIFAR100", None, "https://www.cs.toronto.edu/~kriz/cifar.html"),
        DatasetSpec("svhn", "Street View House Numbers (cropped digits)", (32, 32), 3, 10, 73_257, 26_032,
                    "svhn", "SVHN", DIGIT_CLASSES, "http://ufldl.stanford.edu/housenumbers/"),
        DatasetSpec("digits", "scikit-learn's 8x8 handwritten digits (offline, 20% seeded test split)",
                    (8, 8), 1, 10, 1_437, 360, "sklearn-digits", None, DIGIT_CLASSES,
                    "https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html"),
    )
}


def list_datasets() -> list[str]:
    """Names accepted by `load_dataset`, besides `folder:PATH`."""
    return list(SPECS)


def is_folder(name: str) -> bool:
    return name.startswith(FOLDER_PREFIX)


def get_spec(name: str) -> DatasetSpec:
    """The spec of a named dataset; ConfigError listing the valid names otherwise."""
    spec = SPECS.get(name.lower())
    if spec is None:
        raise ConfigError(
            f"unknown dataset {name!r}. Use one of {', '.join(SPECS)}, "
            f"or '{FOLDER_PREFIX}PATH' for a folder with one sub-folder of images per class."
        )
    return spec
