"""zoo.data.image_folder / from_dataset: the tf.data pipeline fine-tuning reads (zoo/datasets.py).

The images are real photos: crops of scikit-image's bundled photographs, one class per photo.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import datasets
from zoo.errors import InvalidArgumentError

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def make_image_folder(root, per_class=10, classes=PHOTOS, size=(48, 56), seed=0) -> Path:
    """root/<photo>/NNN.{jpg,png}: random crops (50-90% of each side), resized, some flipped."""
    from PIL import Image

    from export.photos import photo
    root = Path(root)
    rng = np.random.default_rng(seed)
    for c in classes:
        img = photo(c)
        H, W = img.shape[:2]
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            s = rng.uniform(0.5, 0.9)
            h, w = int(H * s), int(W * s)
            y, x = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
            crop = Image.fromarray(np.ascontiguousarray(img[y:y + h, x:x + w]))
            crop = crop.resize(size[::-1] if i % 2 else size, Image.BILINEAR)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            crop.save(root / c / f"{i:03d}.{'png' if i % 3 == 0 else 'jpg'}")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def model():
    return zoo.create("seresnet18", num_classes=len(PHOTOS), img_size=32)


def test_folder_classes_split_and_batches(folder, model):
    train = zoo.data.image_folder(folder, model, split="train", batch_size=8, seed=3)
    val = zoo.data.image_folder(folder, model, split="val", batch_size=8, seed=3)
    assert train.class_names == sorted(PHOTOS) and train.num_classes == 4
    assert (train.num_images, val.num_images) == (32, 8)           # 2 of 10 per class held out
    assert not set(train.files) & set(val.files)
    assert sorted(np.bincount(val.labels).tolist()) == [2, 2, 2, 2]
    assert train.steps_per_epoch == 4 and val.steps_per_epoch == 1
    x, y = next(iter(train))
    assert x.shape == (8, 32, 32, 3) and x.dtype.name == "float32" and y.dtype.name == "int32"
    # another seed, another split
    other = zoo.data.image_folder(folder, model, split="val", batch_size=8, seed=4)
    assert set(other.files) != set(val.files)


def test_eval_transform_is_the_models_preprocessing(folder, model):
    """Validation batches are zoo.preprocess's timm eval transform, with TF's antialiased resize
    in place of PIL's."""
    val = zoo.data.image_folder(folder, model, split="val", batch_size=8)
    x, y = next(iter(val))
    ref = zoo.preprocess(val.files[:8], "seresnet18", img_size=32)
    diff = np.abs(x.numpy() - ref)
    assert diff.mean() < 0.03 and diff.max() < 0.3
    assert y.numpy().tolist() == val.labels[:8]


def test_training_stream_is_a_function_of_seed_and_epoch(folder, model):
    def batches(start_epoch=0, n=8, seed=0):
        ds = zoo.data.image_folder(folder, model, split="train", batch_size=8, seed=seed, start_epoch=start_epoch)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]

    run = batches()                      # epochs 0 and 1 (4 steps each)
    again = batches()
    for (a, la), (b, lb) in zip(run, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    resumed = batches(start_epoch=1, n=4)  # a run resumed at epoch 1 sees epoch 1 exactly
    for (a, la), (b, lb) in zip(run[4:], resumed):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    # each epoch its own order and crops; another seed, other draws
    assert sorted(np.concatenate([y for _, y in run[:4]]).tolist()) == sorted(
        np.concatenate([y for _, y in run[4:]]).tolist())
    assert not np.array_equal(run[0][0], run[4][0])
    assert not np.array_equal(run[0][0], batches(seed=1, n=1)[0][0])


def test_randaugment_is_seeded_and_changes_the_images(folder, model):
    def first(augment):
        ds = zoo.data.image_folder(folder, model, split="train", batch_size=8, seed=0, augment=augment)
        return next(iter(ds))[0].numpy()

    plain, ra = first(True), first("randaugment")
    np.testing.assert_array_equal(ra, first("randaugment"))
    assert not np.array_equal(plain, ra) and np.isfinite(ra).all()


def test_corrupt_and_unreadable_files_are_skipped_and_counted(tmp_path, model):
    root = make_image_folder(tmp_path / "d", per_class=4, classes=PHOTOS[:2])
    (root / "coffee" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (root / "coffee" / "empty.png").write_bytes(b"")
    (root / "astronaut" / "notes.txt").write_text("not an image")
    ds = zoo.data.image_folder(root, "seresnet18", batch_size=2, img_size=32)
    skipped = {Path(p).name: why for p, why in ds.skipped}
    assert set(skipped) == {"broken.jpg", "empty.png", "notes.txt"}
    assert "not decodable" in skipped["broken.jpg"] and "not an image file name" in skipped["notes.txt"]
    assert ds.num_images == 8 and sum(int(y.shape[0]) for _, y in ds) == 8


def test_bad_folders_are_clear_errors(tmp_path, model):
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        zoo.data.image_folder(tmp_path / "missing", model)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match="no class subfolders"):
        zoo.data.image_folder(tmp_path / "empty", model)
    one = make_image_folder(tmp_path / "one", per_class=3, classes=("coffee",))
    with pytest.raises(InvalidArgumentError, match="single class"):
        zoo.data.image_folder(one, "seresnet18")
    bad = make_image_folder(tmp_path / "bad", per_class=3, classes=("coffee", "rocket"))
    for f in (bad / "rocket").iterdir():
        f.write_bytes(b"garbage")
    with pytest.raises(InvalidArgumentError, match="rocket of .* hold no readable images"):
        zoo.data.image_folder(bad, "seresnet18")
    loose = tmp_path / "loose"
    make_image_folder(loose, per_class=2, classes=("coffee",))
    for f in (loose / "coffee").iterdir():
        f.rename(loose / f.name)
    (loose / "coffee").rmdir()
    with pytest.raises(InvalidArgumentError, match="images directly"):
        zoo.data.image_folder(loose, "seresnet18")


def test_class_count_must_match_the_model(tmp_path):
    root = make_image_folder(tmp_path / "d", per_class=3, classes=PHOTOS[:3])
    wrong = zoo.create("seresnet18", img_size=32)                 # 1000 ImageNet classes
    with pytest.raises(InvalidArgumentError, match=r"1000 classes but .* has 3 class folders.*num_classes=3"):
        zoo.data.image_folder(root, wrong)


def test_bad_arguments():
    for kw, match in [({"split": "test"}, "split"), ({"augment": "autoaugment"}, "augment"),
                      ({"batch_size": 0}, "batch_size"), ({"val_fraction": 1.0}, "val_fraction")]:
        with pytest.raises(InvalidArgumentError, match=match):
            zoo.data.image_folder("anywhere", "seresnet18", **kw)


def test_from_dataset_takes_any_uint8_image_dataset(model):
    import tensorflow as tf
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40 + 8 * i, 50, 3), dtype=np.uint8) for i in range(5)]
    ds = tf.data.Dataset.from_generator(lambda: ((im, i % 2) for i, im in enumerate(images)),
                                        output_signature=(tf.TensorSpec([None, None, 3], tf.uint8),
                                                          tf.TensorSpec([], tf.int64)))
    ev = datasets.from_dataset(ds, model, batch_size=2)
    got = np.concatenate([x.numpy() for x, _ in ev])
    np.testing.assert_allclose(got, zoo.preprocess(images, "seresnet18", img_size=32), atol=0.3)
    tr = datasets.from_dataset(ds, model, training=True, batch_size=4, seed=1)
    x1 = [x.numpy() for x, _ in tr.take(3)]
    assert all(x.shape == (4, 32, 32, 3) for x in x1)
    floats = tf.data.Dataset.from_tensor_slices((np.zeros((2, 8, 8, 3), np.float32), [0, 1]))
    with pytest.raises(InvalidArgumentError, match="uint8"):
        datasets.from_dataset(floats, model)
