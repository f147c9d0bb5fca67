"""Named datasets, where their files are looked for, and a fast seeded input pipeline.

    from cnnlab.data import load_dataset, make_loader, AugmentConfig
    bundle = load_dataset("fashion-mnist")                      # uint8 tensors in memory
    loader = make_loader(bundle.train, batch_size=256, shuffle=True, mean=bundle.mean, std=bundle.std,
                         augment=AugmentConfig(crop_padding=2, hflip=True, erasing=0.25))
    for epoch in range(3):
        loader.set_epoch(epoch)
        for x, y in loader: ...                                  # x float32 (B, C, H, W), y int64 (B,)

Modules: specs (the named datasets), locate (look-up order), download (atomic, checksummed),
formats (official files via torchvision), memory (TensorSplit), augment (batch augmentation),
loader (make_loader), folder (folder:PATH streaming), load (load_dataset, dataset_info).
"""
from cnnlab.data.augment import AugmentConfig
from cnnlab.data.folder import DataWarning, ImageFolderSplit
from cnnlab.data.load import DatasetBundle, DatasetInfo, dataset_info, download_dataset, load_dataset
from cnnlab.data.loader import BatchLoader, make_loader
from cnnlab.data.memory import TensorSplit
from cnnlab.data.specs import list_datasets

__all__ = [
    "AugmentConfig",
    "BatchLoader",
    "DataWarning",
    "DatasetBundle",
    "DatasetInfo",
    "ImageFolderSplit",
    "TensorSplit",
    "dataset_info",
    "download_dataset",
    "list_datasets",
    "load_dataset",
    "make_loader",
]
