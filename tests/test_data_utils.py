"""The CIFAR-10 loaders in utils/data_utils.py, on the fake dataset of
autograder/demo/fake_cifar.py (same on-disk format, 100 images per batch)."""
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from autograder.demo.fake_cifar import write_fake_cifar10
from utils import data_utils
from utils.data_utils import CIFAR10NotFoundError, get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch

PER_BATCH = 100
TEST_IMAGES = 60
NUM_TRAIN = 5 * PER_BATCH


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """A fake cifar-10-batches-py folder; tests must not modify it."""
    root = tmp_path_factory.mktemp("fake_cifar")
    return write_fake_cifar10(root, images_per_batch=PER_BATCH, test_images=TEST_IMAGES, seed=3)


@pytest.fixture
def cifar_copy(cifar_dir, tmp_path):
    """A private copy of the fake dataset that a test may damage."""
    return Path(shutil.copytree(cifar_dir, tmp_path / "cifar-10-batches-py"))


def raw_batch(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def raw_train(cifar_dir):
    """All training rows and labels as stored on disk, batches 1..5 in order."""
    batches = [raw_batch(cifar_dir / f"data_batch_{b}") for b in range(1, 6)]
    data = np.concatenate([b[b"data"] for b in batches])  # (500, 3072)
    labels = np.concatenate([b[b"labels"] for b in batches])  # (500,)
    return data, labels


def rows_to_nchw(data):
    return data.reshape(-1, 3, 32, 32).astype(np.float64)


# --- load_CIFAR_batch ------------------------------------------------------


@pytest.mark.parametrize("name,n", [("data_batch_1", PER_BATCH), ("data_batch_5", PER_BATCH),
                                    ("test_batch", TEST_IMAGES)])
def test_batch_shapes_and_dtypes(cifar_dir, name, n):
    X, y = load_CIFAR_batch(cifar_dir / name)
    assert (X.shape, X.dtype) == ((n, 32, 32, 3), np.float64)
    assert (y.shape, y.dtype) == ((n,), np.int64)


@pytest.mark.parametrize("i,row,col,channel", [(0, 0, 0, 0), (7, 31, 0, 1), (42, 5, 17, 2), (99, 31, 31, 2)])
def test_batch_pixels_are_channel_planes_in_row_major_order(cifar_dir, i, row, col, channel):
    """Is X[i, row, col, channel] the value stored at channel*1024 + row*32 + col?"""
    raw = raw_batch(cifar_dir / "data_batch_2")
    X, _ = load_CIFAR_batch(cifar_dir / "data_batch_2")
    stored = raw[b"data"][i, channel * 1024 + row * 32 + col]
    assert X[i, row, col, channel] == stored, (
        "pixel (row, col, channel) is read from the wrong place: the rows hold three 32x32 "
        "colour planes (reshape to (n, 3, 32, 32), then transpose to (n, 32, 32, 3))")


def test_batch_labels_match_the_file(cifar_dir):
    raw = raw_batch(cifar_dir / "test_batch")
    _, y = load_CIFAR_batch(cifar_dir / "test_batch")
    np.testing.assert_array_equal(y, raw[b"labels"])


def test_batch_accepts_a_string_path(cifar_dir):
    X, _ = load_CIFAR_batch(str(cifar_dir / "data_batch_1"))
    assert X.shape[0] == PER_BATCH


# --- load_CIFAR10 ----------------------------------------------------------


def test_load_cifar10_concatenates_the_five_training_batches_in_order(cifar_dir):
    data, labels = raw_train(cifar_dir)
    Xtr, ytr, Xte, yte = load_CIFAR10(cifar_dir)
    assert Xtr.shape == (NUM_TRAIN, 32, 32, 3) and Xte.shape == (TEST_IMAGES, 32, 32, 3)
    np.testing.assert_array_equal(Xtr, rows_to_nchw(data).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(ytr, labels)
    assert yte.shape == (TEST_IMAGES,)


# --- get_CIFAR10_data: splits, transposes, mean ----------------------------


@pytest.mark.parametrize("num_training,num_validation,num_test,expected", [
    (None, 50, None, (450, 50, TEST_IMAGES)),
    (None, 0, None, (500, 0, TEST_IMAGES)),
    (300, 100, 10, (300, 100, 10)),
    (1, 499, 0, (1, 499, 0)),
])
def test_split_sizes(cifar_dir, num_training, num_validation, num_test, expected):
    data = get_CIFAR10_data(num_training, num_validation, num_test, cifar10_dir=cifar_dir)
    sizes = tuple(data[f"X_{split}"].shape[0] for split in ("train", "val", "test"))
    assert sizes == expected
    for split, n in zip(("train", "val", "test"), expected):
        assert data[f"X_{split}"].shape == (n, 3, 32, 32), f"X_{split} should be (N, 3, 32, 32)"
        assert data[f"y_{split}"].shape == (n,)


def test_returns_exactly_the_six_arrays(cifar_dir):
    data = get_CIFAR10_data(num_validation=50, cifar10_dir=cifar_dir)
    assert sorted(data) == sorted(["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"])
    assert all(data[k].dtype == np.float64 for k in ("X_train", "X_val", "X_test"))
    assert all(data[k].dtype == np.int64 for k in ("y_train", "y_val", "y_test"))


def test_validation_images_come_right_after_the_training_ones(cifar_dir):
    data_rows, labels = raw_train(cifar_dir)
    data = get_CIFAR10_data(200, 150, subtract_mean=False, cifar10_dir=cifar_dir)
    np.testing.assert_array_equal(data["X_train"], rows_to_nchw(data_rows[:200]))
    np.testing.assert_array_equal(data["X_val"], rows_to_nchw(data_rows[200:350]))
    np.testing.assert_array_equal(data["y_train"], labels[:200])
    np.testing.assert_array_equal(data["y_val"], labels[200:350])


def test_test_split_is_the_first_num_test_test_images(cifar_dir):
    raw = raw_batch(cifar_dir / "test_batch")
    data = get_CIFAR10_data(num_validation=0, num_test=25, subtract_mean=False, cifar10_dir=cifar_dir)
    np.testing.assert_array_equal(data["X_test"], rows_to_nchw(raw[b"data"][:25]))
    np.testing.assert_array_equal(data["y_test"], raw[b"labels"][:25])


def test_arrays_are_channels_first_and_contiguous(cifar_dir):
    data = get_CIFAR10_data(num_validation=50, cifar10_dir=cifar_dir)
    for split in ("train", "val", "test"):
        assert data[f"X_{split}"].flags["C_CONTIGUOUS"], f"X_{split} should be a C-contiguous array"


def test_mean_training_image_is_subtracted_from_every_split(cifar_dir):
    raw = get_CIFAR10_data(300, 100, 50, subtract_mean=False, cifar10_dir=cifar_dir)
    centred = get_CIFAR10_data(300, 100, 50, subtract_mean=True, cifar10_dir=cifar_dir)
    mean_image = raw["X_train"].mean(axis=0)  # (3, 32, 32): the training split only
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(centred[f"X_{split}"], raw[f"X_{split}"] - mean_image,
                                   rtol=0, atol=1e-9, err_msg=f"X_{split} minus the training mean")


def test_mean_subtracted_training_set_has_zero_mean(cifar_dir):
    data = get_CIFAR10_data(num_validation=50, cifar10_dir=cifar_dir)
    assert np.abs(data["X_train"].mean(axis=0)).max() < 1e-9


def test_without_mean_subtraction_pixels_stay_in_0_255(cifar_dir):
    data = get_CIFAR10_data(num_validation=50, subtract_mean=False, cifar10_dir=cifar_dir)
    assert data["X_train"].min() >= 0 and data["X_train"].max() <= 255
    assert data["X_train"].max() > 100, "raw pixel values, not rescaled"


# --- where the data is looked for ------------------------------------------


def test_environment_variable_gives_the_folder(cifar_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(cifar_dir))
    monkeypatch.setattr(data_utils, "DEFAULT_CIFAR10_DIR", "/nonexistent/cifar-10-batches-py")
    data = get_CIFAR10_data(num_validation=50)
    assert data["X_train"].shape == (450, 3, 32, 32)


def test_explicit_folder_wins_over_the_environment_variable(cifar_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "not-here"))
    data = get_CIFAR10_data(num_validation=50, cifar10_dir=cifar_dir)
    assert data["X_train"].shape[0] == 450


def test_default_folder_is_utils_datasets_next_to_the_module():
    utils_dir = Path(data_utils.__file__).resolve().parent
    assert Path(data_utils.DEFAULT_CIFAR10_DIR) == utils_dir / "datasets" / "cifar-10-batches-py"


def test_without_folder_or_variable_the_default_folder_is_used(monkeypatch, tmp_path):
    missing = tmp_path / "datasets" / "cifar-10-batches-py"
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setattr(data_utils, "DEFAULT_CIFAR10_DIR", str(missing))
    with pytest.raises(FileNotFoundError, match="download_cifar10.py") as info:
        get_CIFAR10_data()
    assert str(missing) in str(info.value), "the error should name the folder it looked in"


# --- missing files ---------------------------------------------------------


def test_missing_folder_is_named_with_how_to_download(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CIFAR10NotFoundError) as info:
        get_CIFAR10_data(cifar10_dir=missing)
    message = str(info.value)
    assert str(missing) in message and "python utils/download_cifar10.py" in message
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.filename == str(missing)


@pytest.mark.parametrize("name", ["data_batch_1", "data_batch_4", "test_batch"])
def test_missing_batch_file_is_named(cifar_copy, name):
    (cifar_copy / name).unlink()
    with pytest.raises(CIFAR10NotFoundError) as info:
        load_CIFAR10(cifar_copy)
    assert str(cifar_copy / name) in str(info.value)
    assert "python utils/download_cifar10.py" in str(info.value)


def test_missing_file_is_reported_before_any_batch_is_read(cifar_copy, monkeypatch):
    """Is a missing test_batch reported at once, without loading 5 training batches first?"""
    (cifar_copy / "test_batch").unlink()
    reads = []
    monkeypatch.setattr(data_utils, "load_CIFAR_batch", lambda filename: reads.append(filename))
    with pytest.raises(FileNotFoundError):
        load_CIFAR10(cifar_copy)
    assert reads == []


def test_missing_batch_file_alone(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_9"):
        load_CIFAR_batch(tmp_path / "data_batch_9")


# --- damaged files ---------------------------------------------------------


def good_batch(n=4):
    return {b"batch_label": b"training batch 1 of 5", b"labels": [0, 9, 3, 3][:n],
            b"data": np.zeros((n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}


def without(batch, key):
    return {k: v for k, v in batch.items() if k != key}


def replaced(batch, key, value):
    return {**batch, key: value}


DAMAGED_BATCHES = {
    "not a dict": ([1, 2, 3], "dict"),
    "no data key": (without(good_batch(), b"data"), "b'data'"),
    "no labels key": (without(good_batch(), b"labels"), "b'labels'"),
    "text keys": ({"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3]}, "b'data'"),
    "data as a list": (replaced(good_batch(), b"data", [[0] * 3072] * 4), "numpy array"),
    "data as float": (replaced(good_batch(), b"data", np.zeros((4, 3072))), "uint8"),
    "data too short": (replaced(good_batch(), b"data", np.zeros((4, 3071), np.uint8)), "3072"),
    "data flat": (replaced(good_batch(), b"data", np.zeros(4 * 3072, np.uint8)), "3072"),
    "labels too high": (replaced(good_batch(), b"labels", [0, 1, 10, 2]), "10"),
    "labels negative": (replaced(good_batch(), b"labels", [0, -1, 2, 2]), "-1"),
    "labels as float": (replaced(good_batch(), b"labels", [0.0, 1.5, 2.0, 3.0]), "integers"),
    "labels nested": (replaced(good_batch(), b"labels", [[0], [1], [2], [3]]), "flat"),
    "fewer labels": (replaced(good_batch(), b"labels", [0, 1, 2]), "3 labels for 4 images"),
    "more labels": (replaced(good_batch(), b"labels", [0, 1, 2, 3, 4]), "5 labels for 4 images"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_BATCHES))
def test_wrong_content_is_a_value_error_naming_the_file(tmp_path, case):
    batch, detail = DAMAGED_BATCHES[case]
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(ValueError) as info:
        load_CIFAR_batch(path)
    message = str(info.value)
    assert str(path) in message, f"the error should name the file: {message}"
    assert detail in message, f"the error should say what is wrong ({detail!r}): {message}"


def test_a_well_formed_small_batch_loads(tmp_path):
    """The damaged cases above differ from this valid batch in one thing each."""
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump(good_batch(), f, protocol=2)
    X, y = load_CIFAR_batch(path)
    assert X.shape == (4, 32, 32, 3) and y.tolist() == [0, 9, 3, 3]


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "half"])
def test_corrupt_pickle_is_a_value_error_naming_the_file(cifar_copy, damage):
    path = cifar_copy / "data_batch_3"
    content = path.read_bytes()
    path.write_bytes({"truncated": content[:-100], "empty": b"", "garbage": os.urandom(256) + content,
                      "half": content[: len(content) // 2]}[damage])
    with pytest.raises(ValueError) as info:
        load_CIFAR_batch(path)
    assert str(path) in str(info.value)
    assert "download it again" in str(info.value)


def test_one_corrupt_batch_fails_the_whole_load_with_its_name(cifar_copy):
    path = cifar_copy / "data_batch_4"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="data_batch_4"):
        get_CIFAR10_data(num_validation=50, cifar10_dir=cifar_copy)


# --- impossible requests ---------------------------------------------------


@pytest.mark.parametrize("kwargs,counts", [
    (dict(num_training=450, num_validation=51), ["450", "51", "501", "500"]),
    (dict(num_training=501, num_validation=0), ["501", "500"]),
    (dict(num_validation=500), ["500"]),
    (dict(num_validation=50, num_test=TEST_IMAGES + 1), [str(TEST_IMAGES + 1), str(TEST_IMAGES)]),
])
def test_asking_for_more_images_than_exist_gives_the_counts(cifar_dir, kwargs, counts):
    with pytest.raises(ValueError) as info:
        get_CIFAR10_data(cifar10_dir=cifar_dir, **kwargs)
    for count in counts:
        assert count in str(info.value), f"{count} missing from: {info.value}"


@pytest.mark.parametrize("kwargs", [
    dict(num_training=0), dict(num_training=-5), dict(num_validation=-1), dict(num_test=-1),
    dict(num_training=10.0), dict(num_validation=None), dict(num_test="10"), dict(num_training=True),
])
def test_bad_sizes_are_rejected_before_loading(kwargs, tmp_path):
    """The folder does not exist: a ValueError (not FileNotFoundError) proves the sizes were checked first."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        get_CIFAR10_data(cifar10_dir=tmp_path / "missing", **kwargs)


# --- the fake dataset itself (autograder/demo/fake_cifar.py) --------------------


def test_fake_dataset_has_the_real_file_layout(tmp_path):
    folder = write_fake_cifar10(tmp_path, images_per_batch=12, test_images=7)
    assert folder == tmp_path / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"data_batch_{b}" for b in range(1, 6)] + ["test_batch", "batches.meta"])
    batch = raw_batch(folder / "data_batch_3")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"batch_label"] == b"training batch 3 of 5"
    assert (batch[b"data"].dtype, batch[b"data"].shape) == (np.uint8, (12, 3072))
    assert type(batch[b"labels"]) is list and all(type(label) is int for label in batch[b"labels"])
    assert len(batch[b"filenames"]) == 12 and all(isinstance(f, bytes) for f in batch[b"filenames"])
    assert raw_batch(folder / "test_batch")[b"data"].shape == (7, 3072)


def test_fake_dataset_meta_names_the_ten_classes(tmp_path):
    meta = raw_batch(write_fake_cifar10(tmp_path, images_per_batch=10) / "batches.meta")
    assert meta[b"label_names"][:3] == [b"airplane", b"automobile", b"bird"]
    assert len(meta[b"label_names"]) == 10 and meta[b"num_vis"] == 3072


def test_fake_dataset_is_deterministic_for_a_seed(tmp_path):
    first = write_fake_cifar10(tmp_path / "a", images_per_batch=10, test_images=10, seed=5)
    again = write_fake_cifar10(tmp_path / "b", images_per_batch=10, test_images=10, seed=5)
    other = write_fake_cifar10(tmp_path / "c", images_per_batch=10, test_images=10, seed=6)
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), f"{name} differs for one seed"
    assert (first / "data_batch_1").read_bytes() != (other / "data_batch_1").read_bytes()


def test_fake_dataset_labels_are_balanced(cifar_dir):
    _, labels = raw_train(cifar_dir)
    assert np.bincount(labels, minlength=10).tolist() == [NUM_TRAIN // 10] * 10


def test_fake_classes_are_learnable(cifar_dir):
    """Nearest class mean, fitted on the training split, should beat chance (10%) by far."""
    data = get_CIFAR10_data(num_validation=100, cifar10_dir=cifar_dir)
    X_train = data["X_train"].reshape(len(data["X_train"]), -1)  # (400, 3072)
    X_val = data["X_val"].reshape(len(data["X_val"]), -1)  # (100, 3072)
    means = np.stack([X_train[data["y_train"] == k].mean(axis=0) for k in range(10)])  # (10, 3072)
    distances = ((X_val[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)  # (100, 10)
    accuracy = np.mean(distances.argmin(axis=1) == data["y_val"])
    assert accuracy > 0.6


@pytest.mark.parametrize("kwargs", [dict(images_per_batch=0), dict(test_images=-1), dict(images_per_batch=2.5)])
def test_fake_dataset_rejects_impossible_sizes(tmp_path, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        write_fake_cifar10(tmp_path, **kwargs)
