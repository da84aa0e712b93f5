"""Write the embedded demo's dataset: synthetic shapes whose 8 classes differ
only in temporal order (``mmdtf.datasets.synthetic.shape_order``), as mp4
files and MMAction2 VideoDataset lists.

    python tools/data/make_demo_dataset.py --root data/demo --check
"""
import argparse
import time

from mmdtf.datasets.synthetic import make_demo_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a synthetic video dataset whose classes differ '
        'only in temporal order (mp4 + MMAction2 VideoDataset lists).')
    parser.add_argument('--root', default='data/demo', help='output folder')
    parser.add_argument('--num-frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=64,
                        help='frame height and width in pixels')
    parser.add_argument('--train-per-class', type=int, default=40)
    parser.add_argument('--val-per-class', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--fps', type=int, default=8)
    parser.add_argument('--check', action='store_true',
                        help='read every video back with decord and verify '
                        'its frame count and size')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    summary = make_demo_dataset(
        args.root,
        num_frames=args.num_frames,
        size=args.size,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        seed=args.seed,
        fps=args.fps,
        check=args.check)
    print(f"demo dataset: root={summary['root']} "
          f"videos={summary['num_videos']} (train {summary['num_train']}, "
          f"val {summary['num_val']}), {args.num_frames} frames "
          f"{args.size}x{args.size}, {summary['num_classes']} classes: "
          f"{', '.join(summary['classes'])}"
          f"{' [checked]' if args.check else ''} "
          f'({time.time() - start:.1f}s)')


if __name__ == '__main__':
    main()
