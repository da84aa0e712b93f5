#!/usr/bin/env python
"""A small synthetic temporal activity detection dataset in the Charades
layout (official CSV columns, one folder of frames per video), for the
Coarse-Fine demo (``tools/data/make_detection_demo_dataset.py`` writes it to
``data/detection_demo``).

Each video is ``frames`` frames of noise at ``fps`` frames per second; a few
short events (``EVENT_FRAMES`` frames) of random classes happen at random
times: an event of class c is a square of class c's colour at a random
place. Events may overlap (several labels on a frame); most frames are
empty. Everything is drawn from ``numpy.random.RandomState(seed)``.

Layout::

    <root>/train.csv, <root>/val.csv   id,...,actions,length (Charades CSV)
    <root>/rgb/<id>/<id>-000001.png    frames, 1-based
"""
from pathlib import Path

import numpy as np

HEADER = ('id,subject,scene,quality,relevance,verified,script,objects,'
          'descriptions,actions,length\n')
COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255))  # BGR
EVENT_FRAMES = (2, 5)  # an event lasts 2..4 frames
EVENTS_PER_VIDEO = (2, 5)  # 2..4 events


def draw_video(rng, frames: int, size: int, num_classes: int,
               event_frames=EVENT_FRAMES):
    """(frames, size, size, 3) uint8 video and its [(class, first, last)]."""
    video = rng.randint(60, 120, (frames, size, size, 3)).astype(np.uint8)
    events = []
    side = size // 2
    for _ in range(rng.randint(*EVENTS_PER_VIDEO)):
        label = rng.randint(num_classes)
        length = rng.randint(*event_frames)
        first = rng.randint(0, frames - length + 1)
        y, x = rng.randint(0, size - side + 1, 2)
        video[first:first + length, y:y + side, x:x + side] = \
            COLOURS[label % len(COLOURS)]
        events.append((label, first, first + length - 1))
    return video, events


def make_detection_demo_dataset(root, seed: int = 0, num_train: int = 32,
                                num_val: int = 16, frames: int = 32,
                                size: int = 8, fps: float = 4.0,
                                num_classes: int = 4,
                                event_frames=EVENT_FRAMES) -> dict:
    """Write ``num_train`` / ``num_val`` videos of ``frames`` frames of
    ``size`` x ``size`` px to ``root``; returns frame counts (all, empty,
    with several labels)."""
    import cv2
    root = Path(root)
    rng = np.random.RandomState(seed)
    stats = dict(frames=0, empty_frames=0, multi_label_frames=0)
    for split, count in (('train', num_train), ('val', num_val)):
        rows = []
        for i in range(count):
            vid = f'{split[0].upper()}{i:04d}'
            video, events = draw_video(rng, frames, size, num_classes,
                                       event_frames)
            folder = root / 'rgb' / vid
            folder.mkdir(parents=True, exist_ok=True)
            for t, img in enumerate(video, start=1):
                cv2.imwrite(str(folder / f'{vid}-{t:06d}.png'), img)
            # frame t is at t / fps s: [first / fps, last / fps] covers
            # exactly frames first..last under Charades' inclusive rule
            actions = ';'.join(f'c{c:03d} {a / fps:.4f} {b / fps:.4f}'
                               for c, a, b in events)
            rows.append(f'{vid},S0,Synthetic,7,7,Yes,synthetic,none,'
                        f'synthetic,{actions},{frames / fps:.4f}\n')
            on = np.zeros((num_classes, frames), bool)
            for c, a, b in events:
                on[c, a:b + 1] = True
            per_frame = on.sum(0)
            stats['frames'] += frames
            stats['empty_frames'] += int((per_frame == 0).sum())
            stats['multi_label_frames'] += int((per_frame > 1).sum())
        (root / f'{split}.csv').write_text(HEADER + ''.join(rows))
    return stats
