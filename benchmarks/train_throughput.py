"""Training throughput: `zoo train` (zoo.train.train: the tf.data pipeline decoding and
augmenting JPEG/PNG files, the run's callbacks and checkpoints) vs a plain Keras `fit` on the
same model and the same images already decoded and preprocessed in memory, same process.

    .venv/bin/python benchmarks/train_throughput.py                       # seresnet18 at 64 px
    .venv/bin/python benchmarks/train_throughput.py --arch seresnet18 --img-size 96 --epochs 4

Both train the same architecture from the same initial weights with the same optimizer
(AdamW, jit_compile off), batch size and number of steps per epoch. Images/second is measured
inside each epoch, from its start to the end of its last training batch (validation excluded),
median over the epochs after the first (the first traces the step). A third figure is the data
pipeline alone (iterating the training stream without a model): when it is well above the
training rate, decoding and augmentation are not the bottleneck. Ratios are to the plain fit.

Figures (2 CPU cores shared with three other jobs, so noisy; TF 2.21 / Keras 3.15, no GPU;
`.venv/bin/python benchmarks/train_throughput.py`: 4 classes x 48 photo crops of 160x200,
batch 16, 64 px, 12 steps x 4 epochs, median of epochs 2-4):

    plain keras fit (in-memory arrays)      31.9 img/s  (1.00x)
    zoo train (files -> tf.data)            31.2 img/s  (0.98x)
    tf.data stream alone                   752.6 img/s  (23.63x)

The pipeline alone runs ~24x faster than the training step here, so `zoo train` trains at the
plain loop's rate: decoding and augmenting files on the fly costs ~2% (within the noise).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


class _Speed:
    """Keras callback: images/second of each epoch's training batches."""

    def __new__(cls, batch_size, steps):
        import keras

        class Speed(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.rates = []

            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.t1 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.rates.append(batch_size * steps / (self.t1 - self.t0))

        return Speed()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="seresnet18")
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--per-class", type=int, default=48)
    p.add_argument("--epochs", type=int, default=4)
    args = p.parse_args(argv)

    import keras

    import zoo
    from test_datasets import PHOTOS, make_image_folder
    from zoo import train as training

    tmp = Path(tempfile.mkdtemp(prefix="zoo-train-bench-"))
    data = make_image_folder(tmp / "data", per_class=args.per_class, classes=PHOTOS, size=(160, 200))

    # zoo train: files -> decode -> random resized crop + flip -> batches (no validation split)
    result = training.train(args.arch, data, out=tmp / "run", epochs=args.epochs, batch_size=args.batch_size,
                            pretrained=False, img_size=args.img_size, val_fraction=0.0, jit_compile=False, verbose=0)
    speeds_zoo = [r["train_images_per_s"] for r in result.history]
    steps = len(result.class_names) * args.per_class // args.batch_size   # what zoo train ran per epoch
    speed_zoo = statistics.median(speeds_zoo[1:])

    # the data pipeline alone: the same stream, no model
    model = zoo.create(args.arch, num_classes=len(PHOTOS), img_size=args.img_size)
    stream = zoo.data.image_folder(data, model, split=None, training=True, batch_size=args.batch_size)
    it = iter(stream)
    next(it)
    t = time.perf_counter()
    for _ in range(2 * steps):
        next(it)
    speed_data = 2 * steps * args.batch_size / (time.perf_counter() - t)

    # plain keras fit: the same images decoded and preprocessed once, in memory, no augmentation
    files = sorted(str(f) for f in data.rglob("*.*"))
    labels = np.asarray([result.class_names.index(Path(f).parent.name) for f in files], np.int32)
    x = zoo.preprocess(files, args.arch, img_size=args.img_size)
    keras.utils.set_random_seed(0)
    plain = zoo.create(args.arch, num_classes=len(PHOTOS), img_size=args.img_size)
    plain.compile(optimizer=keras.optimizers.AdamW(1e-3 * args.batch_size / 256, weight_decay=0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  jit_compile=False)
    cb = _Speed(args.batch_size, steps)
    n = steps * args.batch_size
    plain.fit(x[:n], labels[:n], batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=0,
              callbacks=[cb])
    speed_plain = statistics.median(cb.rates[1:])

    print(f"{args.arch} at {args.img_size}px, batch {args.batch_size}, {steps} steps x {args.epochs} epochs "
          f"(median of epochs 2..{args.epochs}); images/second, ratio to plain fit:")
    print(f"  plain keras fit (in-memory arrays)  {speed_plain:8.1f} img/s  (1.00x)")
    print(f"  zoo train (files -> tf.data)        {speed_zoo:8.1f} img/s  ({speed_zoo / speed_plain:.2f}x)")
    print(f"  tf.data stream alone                {speed_data:8.1f} img/s  ({speed_data / speed_plain:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
