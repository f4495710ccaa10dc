"""
Loading the CIFAR-10 dataset (python version) for the assignment notebooks.

The dataset is a folder `cifar-10-batches-py/` holding five training batches
(`data_batch_1` ... `data_batch_5`, 10000 images each) and one test batch
(`test_batch`, 10000 images). Each batch is a python pickle of a dictionary
with byte-string keys:
- b'data': uint8 array of shape (n, 3072); each row is one 32x32 colour image,
    stored as three row-major planes: 1024 red values, 1024 green, 1024 blue.
- b'labels': list of n integers in [0, 9].

Get the dataset once with
    python utils/download_cifar10.py
(run from the assignment folder), or point the environment variable
CIFAR10_DIR at a `cifar-10-batches-py` folder you already have.

These files are only ever the course's own dataset: unpickling a file runs
whatever it was made to run, so never point these loaders at files you do
not trust.
"""
import os
import pickle

import numpy as np

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)  # (H, W, C) as stored on disk
IMAGE_VALUES = 32 * 32 * 3  # 3072 uint8 values per image

TRAIN_BATCHES = tuple('data_batch_%d' % b for b in range(1, 6))
TEST_BATCH = 'test_batch'

# Where get_CIFAR10_data looks when neither cifar10_dir nor CIFAR10_DIR is given.
DEFAULT_CIFAR10_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'datasets', 'cifar-10-batches-py')

HOW_TO_GET_IT = (
    'Download CIFAR-10 with `python utils/download_cifar10.py` (run it from the '
    'assignment folder), or set the environment variable CIFAR10_DIR to a '
    '`cifar-10-batches-py` folder that holds data_batch_1 ... data_batch_5 and '
    'test_batch.')


class CIFAR10NotFoundError(FileNotFoundError):
    """The CIFAR-10 folder or one of its batch files does not exist."""

    def __init__(self, message, filename):
        super().__init__(message)
        self.message = message
        self.filename = filename

    def __str__(self):
        return self.message


def load_CIFAR_batch(filename):
    """
    Loads one batch file of the python version of CIFAR-10.

    Inputs:
    - filename: Path of a batch file (data_batch_1 ... data_batch_5 or
        test_batch).

    Returns a tuple of:
    - X: Images, of shape (n, 32, 32, 3), float64 pixel values in [0, 255]
    - y: Labels, of shape (n,), int64 values in [0, 9]

    Raises CIFAR10NotFoundError (a FileNotFoundError) if the file is missing
    and ValueError, naming the file, if it is not a valid CIFAR-10 batch.
    """
    if not os.path.isfile(filename):
        raise CIFAR10NotFoundError(
            'CIFAR-10 batch file not found: %s. %s' % (filename, HOW_TO_GET_IT), filename)

    try:
        with open(filename, 'rb') as f:
            batch = pickle.load(f, encoding='bytes')
    except Exception as e:  # a damaged pickle can fail in many ways
        raise ValueError(
            'Could not read the CIFAR-10 batch %s (%s: %s): the file is truncated or '
            'corrupt. Delete the cifar-10-batches-py folder and download it again.'
            % (filename, type(e).__name__, e)) from e

    data, labels = _check_batch(batch, filename)
    n = data.shape[0]

    X = data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float64)  # (n, 32, 32, 3)
    y = labels.astype(np.int64)  # (n,)
    return X, y


def _check_batch(batch, filename):
    """
    Checks that an unpickled batch has the layout of a CIFAR-10 batch.

    Inputs:
    - batch: The unpickled object
    - filename: Its path, for the error messages

    Returns a tuple of:
    - data: uint8 array of shape (n, 3072)
    - labels: integer array of shape (n,)
    """
    def bad(problem):
        return ValueError('%s is not a valid CIFAR-10 batch: %s' % (filename, problem))

    if not isinstance(batch, dict):
        raise bad('expected a pickled dict, found %s' % type(batch).__name__)
    for key in (b'data', b'labels'):
        if key not in batch:
            raise bad('the key %r is missing (keys found: %s)'
                      % (key, ', '.join(repr(k) for k in batch) or 'none'))

    data = batch[b'data']
    if not isinstance(data, np.ndarray):
        raise bad("b'data' should be a numpy array, found %s" % type(data).__name__)
    if data.dtype != np.uint8:
        raise bad("b'data' should have dtype uint8, found %s" % data.dtype)
    if data.ndim != 2 or data.shape[1] != IMAGE_VALUES:
        raise bad("b'data' should have shape (n, %d), found %s" % (IMAGE_VALUES, data.shape))

    try:
        labels = np.asarray(batch[b'labels'])
    except Exception as e:
        raise bad("b'labels' cannot be read as an array (%s)" % e) from e
    if labels.ndim != 1:
        raise bad("b'labels' should be a flat list, found shape %s" % (labels.shape,))
    if labels.shape[0] != data.shape[0]:
        raise bad("%d labels for %d images" % (labels.shape[0], data.shape[0]))
    if labels.size > 0 and not np.issubdtype(labels.dtype, np.integer):
        raise bad("b'labels' should be integers, found dtype %s" % labels.dtype)
    if labels.size > 0 and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise bad("labels should be in [0, %d], found values from %d to %d"
                  % (NUM_CLASSES - 1, labels.min(), labels.max()))
    return data, labels


def load_CIFAR10(root):
    """
    Loads all of CIFAR-10: the five training batches and the test batch.

    Inputs:
    - root: Path of the `cifar-10-batches-py` folder

    Returns a tuple of:
    - Xtr: Training images, of shape (N_train, 32, 32, 3), float64
        (N_train = 50000 for the real dataset)
    - ytr: Training labels, of shape (N_train,), int64
    - Xte: Test images, of shape (N_test, 32, 32, 3), float64
        (N_test = 10000 for the real dataset)
    - yte: Test labels, of shape (N_test,), int64

    Every file is checked to exist before any is read, so a missing file is
    reported at once.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise CIFAR10NotFoundError(
            'CIFAR-10 folder not found: %s. %s' % (root, HOW_TO_GET_IT), root)
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            raise CIFAR10NotFoundError(
                'CIFAR-10 batch file not found: %s (the folder %s is incomplete). %s'
                % (path, root, HOW_TO_GET_IT), path)

    xs, ys = [], []
    for name in TRAIN_BATCHES:
        X_batch, y_batch = load_CIFAR_batch(os.path.join(root, name))
        xs.append(X_batch)
        ys.append(y_batch)
    Xtr = np.concatenate(xs)  # (N_train, 32, 32, 3)
    ytr = np.concatenate(ys)  # (N_train,)
    del xs, ys
    Xte, yte = load_CIFAR_batch(os.path.join(root, TEST_BATCH))
    return Xtr, ytr, Xte, yte


def get_CIFAR10_data(num_training=None, num_validation=1000, num_test=None,
                     subtract_mean=True, cifar10_dir=None):
    """
    Loads CIFAR-10 and prepares it for the classifiers: splits off a
    validation set, subtracts the mean training image and puts the channels
    first.

    The validation images are the num_validation training images that come
    right after the first num_training ones.

    Inputs:
    - num_training: Number of training images; None means all training
        images not used for validation (49000 for the real dataset)
    - num_validation: Number of validation images, taken from the training
        batches
    - num_test: Number of test images; None means all of them (10000)
    - subtract_mean: If True, subtract the mean training image from every
        split (the mean is computed on the training split only)
    - cifar10_dir: Path of the `cifar-10-batches-py` folder; None means the
        environment variable CIFAR10_DIR if it is set, else
        utils/datasets/cifar-10-batches-py

    Returns a dictionary with the keys:
    - X_train: Training images, of shape (num_training, 3, 32, 32), float64
    - y_train: Training labels, of shape (num_training,), int64
    - X_val: Validation images, of shape (num_validation, 3, 32, 32)
    - y_val: Validation labels, of shape (num_validation,)
    - X_test: Test images, of shape (num_test, 3, 32, 32)
    - y_test: Test labels, of shape (num_test,)
    """
    for name, value, smallest in (('num_training', num_training, 1),
                                  ('num_validation', num_validation, 0),
                                  ('num_test', num_test, 0)):
        if value is None and name != 'num_validation':
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
            raise ValueError('%s should be an integer >= %d, got %r' % (name, smallest, value))

    if cifar10_dir is None:
        cifar10_dir = os.environ.get('CIFAR10_DIR') or DEFAULT_CIFAR10_DIR

    Xtr, ytr, Xte, yte = load_CIFAR10(cifar10_dir)
    num_available = Xtr.shape[0]

    if num_training is None:
        num_training = num_available - num_validation
        if num_training < 1:
            raise ValueError(
                'num_validation=%d leaves no training images: %s has only %d training images'
                % (num_validation, cifar10_dir, num_available))
    if num_training + num_validation > num_available:
        raise ValueError(
            'num_training + num_validation = %d + %d = %d, but %s has only %d training images'
            % (num_training, num_validation, num_training + num_validation,
               cifar10_dir, num_available))
    if num_test is None:
        num_test = Xte.shape[0]
    if num_test > Xte.shape[0]:
        raise ValueError('num_test = %d, but %s has only %d test images'
                         % (num_test, cifar10_dir, Xte.shape[0]))

    # Slices are views: the only copies are the channels-first arrays below.
    X_train = Xtr[:num_training]  # (num_training, 32, 32, 3)
    X_val = Xtr[num_training:num_training + num_validation]  # (num_validation, 32, 32, 3)
    X_test = Xte[:num_test]  # (num_test, 32, 32, 3)

    if subtract_mean:
        mean_image = np.mean(X_train, axis=0)  # (32, 32, 3)
    else:
        mean_image = np.zeros(IMAGE_SHAPE)  # (32, 32, 3)

    def channels_first(X):
        # One new array per split: subtract and transpose in a single pass.
        out = np.empty((X.shape[0], 3, 32, 32))  # (n, 3, 32, 32)
        np.subtract(X.transpose(0, 3, 1, 2), mean_image.transpose(2, 0, 1), out=out)
        return out

    return {
        'X_train': channels_first(X_train),
        'y_train': ytr[:num_training].copy(),
        'X_val': channels_first(X_val),
        'y_val': ytr[num_training:num_training + num_validation].copy(),
        'X_test': channels_first(X_test),
        'y_test': yte[:num_test].copy(),
    }
