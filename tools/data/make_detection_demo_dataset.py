"""Write the Coarse-Fine demo's dataset: short coloured events in noise, per
frame labelled, in the Charades layout
(``mmdtf.datasets.synthetic.detection_events``).

    python tools/data/make_detection_demo_dataset.py data/detection_demo
"""
import argparse

from mmdtf.datasets.synthetic import make_detection_demo_dataset


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('root', nargs='?', default='data/detection_demo')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    stats = make_detection_demo_dataset(args.root, seed=args.seed)
    print(f'{args.root}: {stats}')


if __name__ == '__main__':
    main()
