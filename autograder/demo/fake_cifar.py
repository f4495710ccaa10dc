"""A small, deterministic stand-in for CIFAR-10 in the real on-disk format.

The grading machines and CI have no internet, so the kit's tests, demos and
notebook runs use this instead of the 170 MB download. The files are byte-for-
byte the same *format* as the python version of CIFAR-10 (pickled dicts with
byte-string keys), so `utils.data_utils` reads them exactly as it reads the
real dataset. Each class has its own mean colour and a faint class-dependent
stripe pattern under the noise, so a small network can learn something.
"""
import pickle
from pathlib import Path

import numpy as np

__all__ = ["write_fake_cifar10", "LABEL_NAMES", "BATCHES_DIRNAME"]

BATCHES_DIRNAME = "cifar-10-batches-py"
LABEL_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
NUM_TRAIN_BATCHES = 5
IMAGE_SIDE = 32
NOISE_STD = 25.0
# Protocol 2 is what the real dataset's files use; python 3 reads it unchanged.
PICKLE_PROTOCOL = 2


def write_fake_cifar10(root, images_per_batch=100, test_images=100, seed=0):
    """Write a fake CIFAR-10 dataset in the real dataset's on-disk format.

    Parameters
    ----------
    root : str or os.PathLike
        Folder in which ``cifar-10-batches-py/`` is created (with its
        parents); existing batch files there are overwritten.
    images_per_batch : int, default 100
        Images in each of ``data_batch_1`` ... ``data_batch_5``.
    test_images : int, default 100
        Images in ``test_batch``.
    seed : int, default 0
        Seed of the generator; the same seed writes byte-identical files.

    Returns
    -------
    pathlib.Path
        The ``root/cifar-10-batches-py`` folder, holding ``data_batch_1`` ...
        ``data_batch_5``, ``test_batch`` and ``batches.meta``.

    Raises
    ------
    ValueError
        If ``images_per_batch`` or ``test_images`` is not a positive integer.

    Notes
    -----
    Each batch is a pickle of ``{b'batch_label': bytes, b'labels': list of
    int, b'data': uint8 array (n, 3072), b'filenames': list of bytes}``, a
    row holding the red, green and blue 32x32 planes in row-major order. The
    labels are balanced (each class appears ``n // 10`` or ``n // 10 + 1``
    times) and shuffled.
    """
    for name, value in (("images_per_batch", images_per_batch), ("test_images", test_images)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} should be a positive integer, got {value!r}")

    rng = np.random.default_rng(seed)
    class_colours = rng.uniform(50.0, 205.0, size=(len(LABEL_NAMES), 3))  # (10, 3)

    folder = Path(root) / BATCHES_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)

    next_image_id = 0
    batch_sizes = [images_per_batch] * NUM_TRAIN_BATCHES + [test_images]
    batch_names = [f"data_batch_{b}" for b in range(1, NUM_TRAIN_BATCHES + 1)] + ["test_batch"]
    for index, (name, n) in enumerate(zip(batch_names, batch_sizes)):
        if name == "test_batch":
            batch_label = b"testing batch 1 of 1"
        else:
            batch_label = f"training batch {index + 1} of {NUM_TRAIN_BATCHES}".encode()
        labels = rng.permutation(np.arange(n) % len(LABEL_NAMES))
        data = _class_images(labels, class_colours, rng)
        filenames = [f"fake_cifar_{i:06d}.png".encode() for i in range(next_image_id, next_image_id + n)]
        next_image_id += n
        batch = {
            b"batch_label": batch_label,
            b"labels": [int(label) for label in labels],
            b"data": data,
            b"filenames": filenames,
        }
        _write_pickle(folder / name, batch)

    meta = {
        b"num_cases_per_batch": images_per_batch,
        b"label_names": [label.encode() for label in LABEL_NAMES],
        b"num_vis": IMAGE_SIDE * IMAGE_SIDE * 3,
    }
    _write_pickle(folder / "batches.meta", meta)
    return folder


def _class_images(labels, class_colours, rng):
    """Images as CIFAR-10 stores them: uint8 rows of three 32x32 colour planes.

    Parameters
    ----------
    labels : numpy.ndarray
        Class of each image, shape ``(n,)``.
    class_colours : numpy.ndarray
        Mean RGB colour of each class, shape ``(10, 3)``.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``(n, 3072)``.
    """
    n = labels.shape[0]
    rows = np.arange(IMAGE_SIDE)
    # Class k gets horizontal stripes with a period of k + 2 rows: structure a conv layer can see.
    periods = labels[:, None] + 2  # (n, 1)
    stripes = 20.0 * np.sin(2 * np.pi * rows[None, :] / periods)  # (n, 32)
    stripes = np.broadcast_to(stripes[:, None, :, None], (n, 3, IMAGE_SIDE, IMAGE_SIDE))  # (n, 3, 32, 32)
    colours = class_colours[labels][:, :, None, None]  # (n, 3, 1, 1)
    noise = rng.normal(0.0, NOISE_STD, size=(n, 3, IMAGE_SIDE, IMAGE_SIDE))  # (n, 3, 32, 32)
    images = np.clip(np.rint(colours + stripes + noise), 0, 255).astype(np.uint8)  # (n, 3, 32, 32)
    return images.reshape(n, 3 * IMAGE_SIDE * IMAGE_SIDE)


def _write_pickle(path, obj):
    """Pickle ``obj`` to ``path`` with the real dataset's protocol."""
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)
