"""The IDX reader and the data set loader: valid files, each bad case, the bundled checksums.

Every failure must be a DatasetError naming the file, never a numpy or struct traceback.
"""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_dataset, write_dataset

import data.mnist as mnist
from data.idx import IMAGES_MAGIC, LABELS_MAGIC, DatasetError, read_idx
from data.mnist import LAYOUT, load_dataset, write_idx

TEST_LABELS = "t10k-labels-idx1-ubyte"
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"


def _idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">i{len(dims)}i", magic, *dims) + payload


def _write(path: Path, content: bytes, gzip_it: bool) -> Path:
    path.write_bytes(gzip.compress(content, mtime=0) if gzip_it else content)
    return path


# -- read_idx on single files -------------------------------------------------------------


@pytest.mark.parametrize("gzip_it", [True, False])
def test_read_valid_images_and_labels(tmp_path: Path, gzip_it: bool) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    labels = np.array([3, 9], dtype=np.uint8)
    write_idx(tmp_path / "img", images, gzip_it=gzip_it)
    write_idx(tmp_path / "lab", labels, gzip_it=gzip_it)
    read_images = read_idx(tmp_path / "img", IMAGES_MAGIC)
    read_labels = read_idx(tmp_path / "lab", LABELS_MAGIC)
    assert np.array_equal(read_images.array, images) and read_images.array.dtype == np.uint8
    assert np.array_equal(read_labels.array, labels)
    assert len(read_images.md5) == 32


@pytest.mark.parametrize("gzip_it", [True, False])
@pytest.mark.parametrize(
    ("content", "magic", "message"),
    [
        (b"", LABELS_MAGIC, "truncated"),
        (b"\x00\x00", LABELS_MAGIC, "truncated"),
        (_idx_bytes(IMAGES_MAGIC, (1,), b"\x01"), LABELS_MAGIC, "wrong magic number 2051"),
        (_idx_bytes(LABELS_MAGIC, (1, 28, 28), bytes(784)), IMAGES_MAGIC, "wrong magic"),
        (struct.pack(">ii", IMAGES_MAGIC, 2), IMAGES_MAGIC, "truncated header"),
        (struct.pack(">i", LABELS_MAGIC) + b"\x00\x00", LABELS_MAGIC, "truncated header"),
        (_idx_bytes(LABELS_MAGIC, (5,), b"\x01\x02\x03"), LABELS_MAGIC, "truncated"),
        (_idx_bytes(IMAGES_MAGIC, (2, 28, 28), bytes(784 + 5)), IMAGES_MAGIC, "truncated"),
        (_idx_bytes(LABELS_MAGIC, (2,), b"\x01\x02\x03"), LABELS_MAGIC, "unexpected bytes"),
        (_idx_bytes(IMAGES_MAGIC, (1, 28, 28), bytes(785)), IMAGES_MAGIC, "unexpected bytes"),
        (_idx_bytes(LABELS_MAGIC, (0,), b""), LABELS_MAGIC, "dimensions"),
        (_idx_bytes(IMAGES_MAGIC, (-1, 28, 28), b""), IMAGES_MAGIC, "dimensions"),
        # 2^21 * 2^21 * 2^22 = 2^64: overflows int64 to 0 if the size is computed in numpy.
        (_idx_bytes(IMAGES_MAGIC, (2**21, 2**21, 2**22), b""), IMAGES_MAGIC, "truncated"),
    ],
    ids=[
        "empty",
        "two-bytes",
        "images-magic-for-labels",
        "labels-magic-for-images",
        "truncated-images-header",
        "truncated-labels-header",
        "short-labels",
        "short-images",
        "trailing-labels",
        "trailing-images",
        "zero-count",
        "negative-count",
        "size-overflow",
    ],
)
def test_bad_file_is_a_dataset_error_naming_it(
    tmp_path: Path, gzip_it: bool, content: bytes, magic: int, message: str
) -> None:
    path = _write(tmp_path / "bad-file", content, gzip_it)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path, magic)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing") as info:
        read_idx(tmp_path / "nope.gz", LABELS_MAGIC)
    assert "nope.gz" in str(info.value)


def test_corrupt_gzip(tmp_path: Path) -> None:
    good = gzip.compress(_idx_bytes(LABELS_MAGIC, (100,), bytes(range(100))), mtime=0)
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    cases = {
        "flipped": bytes(damaged),
        "truncated": good[: len(good) - 12],
        "crc": good[:-8] + b"\x00\x00\x00\x00" + good[-4:],
        "garbage": b"\x1f\x8b" + b"not really gzip at all",
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.gz"
        path.write_bytes(content)
        with pytest.raises(DatasetError) as info:
            read_idx(path, LABELS_MAGIC)
        assert str(path) in str(info.value), name


# -- load_dataset on a directory ----------------------------------------------------------


@pytest.mark.parametrize("gzip_it", [True, False])
def test_load_tiny_directory_is_unverified_with_a_note(tmp_path: Path, gzip_it: bool) -> None:
    tiny = make_tiny_dataset(n_train=50, n_test=20)
    directory = write_dataset(tmp_path / "fashion-like", tiny, gzip_it=gzip_it)
    dataset = load_dataset(directory)
    assert not dataset.verified
    assert dataset.name == "fashion-like"
    assert dataset.note and "unverified" in dataset.note and "\n" not in dataset.note
    assert dataset.train_images.shape == (50, 784) and dataset.test_images.shape == (20, 784)
    assert np.array_equal(dataset.train_images, tiny.train_images)
    assert np.array_equal(dataset.test_labels, tiny.test_labels)


def test_tiny_data_dir_fixture_loads(tiny_data_dir: Path) -> None:
    dataset = load_dataset(tiny_data_dir)
    assert not dataset.verified and dataset.note
    assert len(dataset.train_labels) == 600 and len(dataset.test_labels) == 200


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist") as info:
        load_dataset(tmp_path / "absent")
    assert "absent" in str(info.value)


def test_missing_file_in_directory(tiny_data_dir: Path) -> None:
    (tiny_data_dir / f"{TEST_LABELS}.gz").unlink()
    with pytest.raises(DatasetError, match="missing") as info:
        load_dataset(tiny_data_dir)
    assert TEST_LABELS in str(info.value)


def test_wrong_magic_in_directory(tiny_data_dir: Path) -> None:
    """Labels and images swapped: the file is named and the magic reported."""
    shutil.copy(tiny_data_dir / f"{TEST_LABELS}.gz", tiny_data_dir / f"{TRAIN_IMAGES}.gz")
    with pytest.raises(DatasetError, match="magic") as info:
        load_dataset(tiny_data_dir)
    assert TRAIN_IMAGES in str(info.value)


def test_count_mismatch_between_images_and_labels(tiny_data_dir: Path) -> None:
    write_idx(tiny_data_dir / f"{TRAIN_LABELS}.gz", np.zeros(599, dtype=np.uint8))
    with pytest.raises(DatasetError, match="mismatch") as info:
        load_dataset(tiny_data_dir)
    assert TRAIN_LABELS in str(info.value)


def test_non_28x28_images(tmp_path: Path) -> None:
    directory = tmp_path / "small-images"
    directory.mkdir()
    arrays = {
        "train_images": np.zeros((4, 20, 20), np.uint8),
        "train_labels": np.zeros(4, np.uint8),
        "test_images": np.zeros((2, 20, 20), np.uint8),
        "test_labels": np.zeros(2, np.uint8),
    }
    for role, (stem, _magic) in LAYOUT.items():
        write_idx(directory / f"{stem}.gz", arrays[role])
    with pytest.raises(DatasetError, match="28x28") as info:
        load_dataset(directory)
    assert TRAIN_IMAGES in str(info.value)


def test_train_and_test_image_sizes_must_agree(tiny_data_dir: Path) -> None:
    write_idx(tiny_data_dir / "t10k-images-idx3-ubyte.gz", np.zeros((200, 20, 20), np.uint8))
    with pytest.raises(DatasetError, match="t10k-images"):
        load_dataset(tiny_data_dir)


def test_labels_beyond_the_ten_classes_are_refused(tiny_data_dir: Path) -> None:
    """The network has 10 outputs: a label of 10 or more cannot be trained on."""
    labels = np.full(200, 3, dtype=np.uint8)
    labels[17] = 12
    write_idx(tiny_data_dir / f"{TEST_LABELS}.gz", labels)
    with pytest.raises(DatasetError, match="12") as info:
        load_dataset(tiny_data_dir)
    assert TEST_LABELS in str(info.value)


def test_gz_is_preferred_and_raw_files_work_alone(tmp_path: Path) -> None:
    tiny = make_tiny_dataset(n_train=30, n_test=10)
    directory = write_dataset(tmp_path / "mixed", tiny, gzip_it=False)
    assert load_dataset(directory).train_images.shape == (30, 784)
    # A broken .gz beside a good raw file is the one read (gzip preferred) and is reported.
    (directory / f"{TRAIN_LABELS}.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DatasetError) as info:
        load_dataset(directory)
    assert f"{TRAIN_LABELS}.gz" in str(info.value)


# -- the bundled copy ---------------------------------------------------------------------


def _damaged_bundled_copy(tmp_path: Path) -> Path:
    """A copy of the bundled files with one test label changed (a valid gzip, wrong md5)."""
    copy = tmp_path / "bundled-copy"
    shutil.copytree(mnist.BUNDLED_DIR, copy)
    path = copy / f"{TEST_LABELS}.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[8 + 5] = (content[8 + 5] + 1) % 10  # one byte of the payload
    path.write_bytes(gzip.compress(bytes(content), mtime=0))
    return copy


def test_damaged_bundled_copy_is_an_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mnist, "BUNDLED_DIR", _damaged_bundled_copy(tmp_path))
    with pytest.raises(DatasetError, match="checksum") as info:
        load_dataset()
    assert TEST_LABELS in str(info.value)
    assert TRAIN_IMAGES not in str(info.value)  # only the damaged file is named


def test_bundled_checksum_table_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(mnist.MNIST_MD5, "train_labels", "0" * 32)
    with pytest.raises(DatasetError, match="checksum") as info:
        load_dataset()
    assert TRAIN_LABELS in str(info.value)


def test_bundled_gzip_with_a_flipped_byte_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "bundled-copy"
    shutil.copytree(mnist.BUNDLED_DIR, copy)
    path = copy / f"{TEST_LABELS}.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(mnist, "BUNDLED_DIR", copy)
    with pytest.raises(DatasetError) as info:
        load_dataset()
    assert TEST_LABELS in str(info.value)


@pytest.fixture(scope="module")
def bundled() -> mnist.Dataset:
    return load_dataset()


def test_bundled_mnist_loads_verified(bundled: mnist.Dataset) -> None:
    assert bundled.verified and bundled.name == "MNIST" and bundled.note is None
    assert bundled.train_images.shape == (60_000, 784)
    assert bundled.test_images.shape == (10_000, 784)
    assert bundled.train_labels.shape == (60_000,) and bundled.test_labels.shape == (10_000,)
    assert bundled.test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert set(bundled.train_labels.tolist()) == set(range(10))
    assert (bundled.train_images / 255.0).mean() == pytest.approx(0.1307, abs=5e-4)
    assert (bundled.train_images / 255.0).std() == pytest.approx(0.3081, abs=5e-4)


def test_a_users_copy_of_mnist_is_named_mnist(tmp_path: Path) -> None:
    """A --data-dir whose files match the official checksums (here raw, not gzip) is MNIST."""
    directory = tmp_path / "my-mnist"
    directory.mkdir()
    for stem, _magic in LAYOUT.values():
        (directory / stem).write_bytes(
            gzip.decompress((mnist.BUNDLED_DIR / f"{stem}.gz").read_bytes())
        )
    dataset = load_dataset(directory)
    assert dataset.verified and dataset.name == "MNIST" and dataset.note is None


@pytest.mark.parametrize("magic", [IMAGES_MAGIC, LABELS_MAGIC])
def test_every_truncation_and_header_byte_damage_is_a_dataset_error(
    tmp_path: Path, magic: int
) -> None:
    """Fuzz the small cases: any prefix, and any header byte set to 0x00 or 0xFF, either loads
    or fails with a DatasetError naming the file (never a numpy or struct error)."""
    dims = (2, 28, 28) if magic == IMAGES_MAGIC else (5,)
    good = _idx_bytes(magic, dims, bytes(range(256)) * (2 * 784 // 256 + 1))
    good = good[: 4 + 4 * len(dims) + int(np.prod(dims))]
    header_len = 4 + 4 * len(dims)
    cuts = [*range(header_len + 2), *range(header_len + 2, len(good), 97), len(good) - 1]
    variants = [good[:cut] for cut in cuts]
    for position in range(header_len):
        for value in (0x00, 0xFF, 0x7F):
            damaged = bytearray(good)
            damaged[position] = value
            variants.append(bytes(damaged))
    path = tmp_path / "fuzzed"
    for content in variants:
        for gzip_it in (False, True):
            _write(path, content, gzip_it)
            try:
                read_idx(path, magic)
            except DatasetError as exc:
                assert str(path) in str(exc)
