"""The named datasets: what each one is, as data.

Every entry with official files lists them (name, MD5, download URLs) and names the torchvision
dataset class that reads them. The lists are copies of what that class says, kept here so finding
the files never imports torchvision (1-2 s); tests/test_data_formats.py checks every copy against
torchvision, so they cannot drift. Nothing here touches the disk.
"""
from __future__ import annotations

from dataclasses import dataclass

from cnnlab.errors import ConfigError

FOLDER_PREFIX = "folder:"

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class RawFile:
    """One official file: its name, MD5 and the URLs it can be downloaded from (mirrors first to last)."""

    name: str
    md5: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset.

    `format` is a key of `formats.FORMATS` (how the official files are read); `torchvision_class`
    is the name of the class in `torchvision.datasets` that reads them and is the source of
    `raw_files` (None for scikit-learn's digits, which ship with scikit-learn).
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
    raw_files: tuple[RawFile, ...] = ()


_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def _mnist_like(name: str, title: str, cls: str, homepage: str, mirrors: tuple[str, ...],
                md5s: tuple[str, str, str, str]) -> DatasetSpec:
    """A 28x28 grey 10-class IDX dataset; each of _IDX_FILES (MD5 in that order) is at every mirror + name."""
    files = tuple(RawFile(f, md5, tuple(m + f for m in mirrors)) for f, md5 in zip(_IDX_FILES, md5s))
    return DatasetSpec(name, title, (28, 28), 1, 10, 60_000, 10_000, "idx", cls, homepage=homepage,
                       raw_files=files)


_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
_SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"


SPECS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _mnist_like("fashion-mnist", "Zalando's Fashion-MNIST clothing images", "FashionMNIST",
                    "https://github.com/zalandoresearch/fashion-mnist",
                    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
                    ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                     "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
        _mnist_like("mnist", "MNIST handwritten digits", "MNIST", "http://yann.lecun.com/exdb/mnist/",
                    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
                    ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                     "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
        _mnist_like("kmnist", "Kuzushiji-MNIST cursive Japanese characters", "KMNIST",
                    "https://github.com/rois-codh/kmnist", ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
                    ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                     "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134")),
        DatasetSpec("cifar10", "CIFAR-10 tiny colour images", (32, 32), 3, 10, 50_000, 10_000, "cifar",
                    "CIFAR10", CIFAR10_CLASSES, "https://www.cs.toronto.edu/~kriz/cifar.html",
                    (RawFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                             (_CIFAR_URL + "cifar-10-python.tar.gz",)),)),
        DatasetSpec("cifar100", "CIFAR-100 tiny colour images, 100 fine classes", (32, 32), 3, 100, 50_000,
                    10_000, "cifar", "CIFAR100", None, "https://www.cs.toronto.edu/~kriz/cifar.html",
                    (RawFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                             (_CIFAR_URL + "cifar-100-python.tar.gz",)),)),
        DatasetSpec("svhn", "Street View House Numbers (cropped digits)", (32, 32), 3, 10, 73_257, 26_032,
                    "svhn", "SVHN", DIGIT_CLASSES, "http://ufldl.stanford.edu/housenumbers/",
                    (RawFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", (_SVHN_URL + "train_32x32.mat",)),
                     RawFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", (_SVHN_URL + "test_32x32.mat",)))),
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
