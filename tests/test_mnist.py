"""Tests of load_mnist: tiny IDX files written here, and the real files when they are present."""

import gzip

import numpy as np
import pytest
from _mnist import mnist_folder

from wpokernel.datasets import DATA_ENV_VAR, MNIST_IMAGE_SHAPE, load_mnist

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
# Label counts of the 60,000 training images and their mean grey level, from the README of
# the data folder (the original distribution's documented figures).
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TRAIN_MEAN_GREY_LEVEL = 33.318


def _idx_bytes(array, magic):
    """Big-endian IDX: the magic number, each dimension as a 32-bit int, then the bytes."""
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write(path, content):
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as file:
            file.write(content)
    else:
        path.write_bytes(content)
    return path


def _split_arrays(rng, n_images, shape=MNIST_IMAGE_SHAPE):
    images = rng.integers(0, 256, size=(n_images, *shape), dtype=np.uint8)
    return images, rng.integers(0, 10, size=n_images, dtype=np.uint8)


@pytest.fixture
def mnist_files(tmp_path):
    """A folder with a 7-image training split (plain files) and a 3-image test split (.gz)."""
    rng = np.random.default_rng(0)
    arrays = {"train": _split_arrays(rng, 7), "test": _split_arrays(rng, 3)}
    for split, stem, suffix in (("train", "train", ""), ("test", "t10k", ".gz")):
        images, labels = arrays[split]
        _write(tmp_path / f"{stem}-images-idx3-ubyte{suffix}", _idx_bytes(images, IMAGES_MAGIC))
        _write(tmp_path / f"{stem}-labels-idx1-ubyte{suffix}", _idx_bytes(labels, LABELS_MAGIC))
    return tmp_path, arrays


@pytest.mark.parametrize("split", ["train", "test"])
def test_reads_plain_and_gzipped_files(mnist_files, split):
    folder, arrays = mnist_files
    images, labels = arrays[split]
    X, y = load_mnist(folder, split=split, dequantize=False, return_y=True)
    assert X.shape == (len(images), 784) and X.dtype == np.float64
    np.testing.assert_array_equal(X * 256, images.reshape(len(images), -1))
    np.testing.assert_array_equal(X[0].reshape(MNIST_IMAGE_SHAPE) * 256, images[0])
    np.testing.assert_array_equal(y, labels)
    assert y.dtype == np.int64


def test_dequantization_spreads_each_level_over_its_cell(mnist_files):
    # X = (P + U) / 256 with U ~ U[0, 1): floor(256 X) = P, and the noise 256 X - P of
    # 7 * 784 values has mean 1/2 and variance 1/12 (standard errors sqrt(1 / (12 N)) and
    # sqrt(1 / (180 N))).
    folder, arrays = mnist_files
    pixels = arrays["train"][0].reshape(7, -1)
    X = load_mnist(folder, random_state=0)
    assert X.min() >= 0.0 and X.max() < 1.0
    np.testing.assert_array_equal(np.floor(256 * X), pixels)
    U = 256 * X - pixels
    N = U.size
    np.testing.assert_allclose(U.mean(), 0.5, atol=5 * np.sqrt(1 / (12 * N)))
    np.testing.assert_allclose(U.var(), 1 / 12, atol=5 * np.sqrt(1 / (180 * N)))
    np.testing.assert_array_equal(X, load_mnist(folder, random_state=np.random.RandomState(0)))
    assert not np.array_equal(X, load_mnist(folder, random_state=1))


def test_n_samples_draws_a_subset_in_file_order(mnist_files):
    folder, arrays = mnist_files
    images, labels = arrays["train"]
    X, y = load_mnist(folder, n_samples=4, dequantize=False, random_state=3, return_y=True)
    rows = [np.flatnonzero((images.reshape(7, -1) == 256 * x).all(axis=1))[0] for x in X]
    assert len(set(rows)) == 4 and rows == sorted(rows)
    np.testing.assert_array_equal(y, labels[rows])
    again = load_mnist(folder, n_samples=4, dequantize=False, random_state=3)
    np.testing.assert_array_equal(X, again)


@pytest.mark.parametrize(
    ("separator", "suffix", "subfolder"),
    [("-", "", False), (".", "", False), (".", ".gz", False), ("-", ".gz", True), (".", "", True)],
)
def test_finds_every_spelling_in_the_folder_or_its_mnist_subfolder(
    tmp_path, separator, suffix, subfolder
):
    images, labels = _split_arrays(np.random.default_rng(1), 2)
    folder = tmp_path / "mnist" if subfolder else tmp_path
    folder.mkdir(exist_ok=True)
    _write(folder / f"t10k-images{separator}idx3-ubyte{suffix}", _idx_bytes(images, IMAGES_MAGIC))
    _write(folder / f"t10k-labels{separator}idx1-ubyte{suffix}", _idx_bytes(labels, LABELS_MAGIC))
    X = load_mnist(tmp_path, split="test", dequantize=False)
    np.testing.assert_array_equal(X * 256, images.reshape(2, -1))


def test_reads_the_folder_named_by_the_environment_variable(mnist_files, monkeypatch):
    folder, arrays = mnist_files
    monkeypatch.setenv(DATA_ENV_VAR, str(folder))
    np.testing.assert_array_equal(
        load_mnist(split="test", dequantize=False) * 256, arrays["test"][0].reshape(3, -1)
    )


# ---------------------------------------------------------------------------------------------
# Bad input: each error names the file or the parameter
# ---------------------------------------------------------------------------------------------


def test_no_folder_given_says_where_to_put_the_files(monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match=rf"as path= or in the environment variable "
                                         rf"{DATA_ENV_VAR}, got neither. Nothing is downloaded"):
        load_mnist()


def test_missing_folder_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=rf"got path='{missing}', which is not a folder"):
        load_mnist(missing)
    monkeypatch.setenv(DATA_ENV_VAR, str(missing))
    with pytest.raises(ValueError, match=rf"got {DATA_ENV_VAR}='{missing}', which is not a"):
        load_mnist()


def test_missing_files_list_every_place_looked(tmp_path):
    with pytest.raises(ValueError) as info:
        load_mnist(tmp_path, split="test")
    message = str(info.value)
    assert message.startswith(f"Expected the MNIST file t10k-images in one of the folders "
                              f"{tmp_path}, {tmp_path / 'mnist'}, got none of: ")
    for folder in (tmp_path, tmp_path / "mnist"):
        for name in ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte.gz"):
            assert str(folder / name) in message


def test_missing_labels_file_is_named(mnist_files):
    folder, _ = mnist_files
    (folder / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError, match="Expected the MNIST file train-labels in one of"):
        load_mnist(folder)


def _replace_train_images(folder, content):
    return _write(folder / "train-images-idx3-ubyte", content)


@pytest.mark.parametrize(
    ("cut", "match"),
    [
        (-1, r"Expected 5488 data bytes after the header of .*train-images-idx3-ubyte "
             r"\(dimensions \(7, 28, 28\)\), got 5487: the file is truncated"),
        (10, r"Expected an IDX header of 16 bytes in .*train-images-idx3-ubyte, got a file of "
             r"10 bytes: it is truncated"),
    ],
)
def test_truncated_file_is_named(mnist_files, cut, match):
    folder, arrays = mnist_files
    content = _idx_bytes(arrays["train"][0], IMAGES_MAGIC)
    _replace_train_images(folder, content[:cut])
    with pytest.raises(ValueError, match=match):
        load_mnist(folder)


def test_file_with_trailing_bytes_is_named(mnist_files):
    folder, arrays = mnist_files
    _replace_train_images(folder, _idx_bytes(arrays["train"][0], IMAGES_MAGIC) + b"\x00")
    with pytest.raises(ValueError, match=r"got 5489: the file is too long"):
        load_mnist(folder)


def test_truncated_gzip_stream_is_named(mnist_files):
    folder, _ = mnist_files
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"Could not read the IDX file .*t10k-images-idx3-ubyte.gz"):
        load_mnist(folder, split="test")


def test_wrong_magic_number_is_named(mnist_files):
    # The labels' magic number in the images file: unsigned bytes, but one dimension.
    folder, arrays = mnist_files
    content = _idx_bytes(arrays["train"][0], IMAGES_MAGIC)
    _replace_train_images(folder, LABELS_MAGIC.to_bytes(4, "big") + content[4:])
    with pytest.raises(ValueError, match=r"Expected the IDX magic number 2051 \(unsigned bytes, "
                                         r"3 dimensions\) in .*train-images-idx3-ubyte, got 2049"):
        load_mnist(folder)


def test_image_label_count_mismatch_names_both_files(mnist_files):
    folder, arrays = mnist_files
    _write(folder / "train-labels-idx1-ubyte", _idx_bytes(arrays["train"][1][:5], LABELS_MAGIC))
    with pytest.raises(ValueError, match=r"Expected as many labels in .*train-labels-idx1-ubyte "
                                         r"as images in .*train-images-idx3-ubyte \(7\), got 5"):
        load_mnist(folder)


def test_wrong_image_size_is_named(mnist_files):
    folder, _ = mnist_files
    images, _ = _split_arrays(np.random.default_rng(2), 7, shape=(27, 28))
    _replace_train_images(folder, _idx_bytes(images, IMAGES_MAGIC))
    with pytest.raises(ValueError, match=r"Expected images of 28 x 28 pixels in "
                                         r".*train-images-idx3-ubyte, got 27 x 28"):
        load_mnist(folder)


def test_label_out_of_range_is_named(mnist_files):
    folder, arrays = mnist_files
    labels = arrays["train"][1].copy()
    labels[3] = 10
    _write(folder / "train-labels-idx1-ubyte", _idx_bytes(labels, LABELS_MAGIC))
    with pytest.raises(ValueError, match=r"Expected labels 0 to 9 in .*train-labels-idx1-ubyte, "
                                         r"got 10"):
        load_mnist(folder)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"split": "validation"}, ValueError,
         r"Expected split to be one of 'train', 'test', got 'validation'"),
        ({"n_samples": 8}, ValueError, r"Expected n_samples <= 7, the number of train images"),
        ({"n_samples": 0}, ValueError, r"Expected n_samples to be a positive int, got 0"),
        ({"n_samples": 2.0}, TypeError, r"Expected n_samples to be a positive int, got float"),
    ],
)
def test_bad_options_raise(mnist_files, options, error, match):
    folder, _ = mnist_files
    with pytest.raises(error, match=match):
        load_mnist(folder, **options)


# ---------------------------------------------------------------------------------------------
# The real files, when they are at hand
# ---------------------------------------------------------------------------------------------


def test_real_files_have_the_documented_sizes_labels_and_grey_levels():
    folder = mnist_folder()
    X, y = load_mnist(folder, dequantize=False, return_y=True)
    X_test, y_test = load_mnist(folder, split="test", random_state=0, return_y=True)
    assert X.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X.dtype == X_test.dtype == np.float64
    assert set(np.unique(y)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))
    np.testing.assert_array_equal(np.bincount(y), TRAIN_LABEL_COUNTS)
    assert np.bincount(y_test).sum() == 10000
    pixels = 256 * X
    assert pixels.min() == 0 and pixels.max() == 255
    np.testing.assert_allclose(pixels.mean(), TRAIN_MEAN_GREY_LEVEL, atol=5e-4)
    assert 0.0 <= X_test.min() and X_test.max() < 1.0
