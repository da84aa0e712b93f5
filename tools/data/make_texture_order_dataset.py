"""Write the second order-only dataset: natural pictures filmed by a moving
camera, 6 classes in time-reversed pairs
(``mmdtf.datasets.synthetic.texture_order``).

    python tools/data/make_texture_order_dataset.py --root data/textures --check
"""
import argparse
import time

from mmdtf.datasets.synthetic import make_texture_order_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='data/textures')
    parser.add_argument('--train-per-class', type=int, default=40)
    parser.add_argument('--val-per-class', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--check', action='store_true')
    args = parser.parse_args(argv)
    start = time.time()
    summary = make_texture_order_dataset(
        args.root, train_per_class=args.train_per_class,
        val_per_class=args.val_per_class, seed=args.seed, check=args.check)
    print(f"texture order dataset: {summary['root']}, "
          f"{summary['num_train']} train / {summary['num_val']} val videos, "
          f"{summary['num_classes']} classes ({time.time() - start:.1f} s)")


if __name__ == '__main__':
    main()
