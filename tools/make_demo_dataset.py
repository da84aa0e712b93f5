#!/usr/bin/env python
"""Write a small synthetic video dataset whose classes differ ONLY in
temporal order.

Layout (``<root>`` defaults to ``data/demo``)::

    <root>/classes.txt            one class name per line, in label order
    <root>/train_list.txt         "train/<class>/<idx>.mp4 <label>" per line
    <root>/val_list.txt           "val/<class>/<idx>.mp4 <label>" per line
    <root>/videos/train/<class>/<idx>.mp4
    <root>/videos/val/<class>/<idx>.mp4

Video paths in the annotation files are relative to ``<root>/videos``, i.e.
an MMAction2 ``VideoDataset`` is configured with
``ann_file='<root>/train_list.txt'`` and
``data_prefix=dict(video='<root>/videos')``.

Classes come in time-reversed pairs ``(0, 1), (2, 3), (4, 5), (6, 7)``: the
odd class of a pair is produced by generating the even class's frame sequence
and reversing it.  Per-video nuisance (background colour, static texture,
per-frame sensor noise, object colour / size / shape / start position, speed)
is drawn from a generator keyed by ``(seed, split, pair, index)``, so video
``i`` of class ``2k + 1`` is exactly the time reversal of video ``i`` of class
``2k`` (before lossy mp4 encoding).  Consequently the multiset of frames of a
video carries no information about which class of its pair it belongs to: a
model that pools per-frame features without temporal modelling is at chance
*within* a pair (it can still tell the pairs apart, i.e. it is capped at 50%
accuracy over the 8 classes, 12.5% being chance).

Translations wrap around the frame (toroidal motion) and start at a uniformly
random position, so the object position in any single frame is uniformly
distributed for every translation class and every time step.

The two "long-range order" classes show a brief flash of a square (A) and of a
circle (B) at the same place, separated by at least :data:`MIN_EVENT_GAP` frames (frame-index
distance between the last frame of the first event and the first frame of the
second one), so the two events always fall into different, non-adjacent
4-frame tubelets.  All other frames only show the noisy background.

Example::

    python tools/make_demo_dataset.py --root data/demo --check
"""
import argparse
import colorsys
import os
import os.path as osp
import sys
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmdtf.utils.progress import track  # noqa: E402

CLASSES = (
    'moving_right',        # 0
    'moving_left',         # 1  = reverse of 0
    'moving_down',         # 2
    'moving_up',           # 3  = reverse of 2
    'approaching',         # 4  (growing)
    'receding',            # 5  = reverse of 4 (shrinking)
    'square_then_circle',  # 6  A early, B late
    'circle_then_square',  # 7  = reverse of 6
)

#: min. frame-index distance between the two events of classes 6 / 7
MIN_EVENT_GAP = 8
#: max. number of frames an event (flash) lasts
MAX_EVENT_LEN = 3

_SPLIT_IDS = {'train': 0, 'val': 1}


def _soft_mask(shape, cx, cy, half, size, wrap=False):
    """Anti-aliased mask (float32 in [0, 1], ``size x size``) of a filled
    square (``shape == 'square'``, half side ``half``) or disk (radius
    ``half``) centred at ``(cx, cy)`` in pixel units.  With ``wrap`` the
    distance is measured on the torus (object wraps around the borders)."""
    coords = np.arange(size, dtype=np.float32) + 0.5
    dx = coords - np.float32(cx)
    dy = coords - np.float32(cy)
    if wrap:
        dx = (dx + size / 2.0) % size - size / 2.0
        dy = (dy + size / 2.0) % size - size / 2.0
    dx = np.abs(dx)[None, :]
    dy = np.abs(dy)[:, None]
    if shape == 'square':
        ax = np.clip(half + 0.5 - dx, 0.0, 1.0)
        ay = np.clip(half + 0.5 - dy, 0.0, 1.0)
        return (ay * ax).astype(np.float32)
    if shape == 'circle':
        dist = np.sqrt(dx * dx + dy * dy)
        return np.clip(half + 0.5 - dist, 0.0, 1.0).astype(np.float32)
    raise ValueError(f'unknown shape {shape!r}')


def _event_length(num_frames):
    length = min(MAX_EVENT_LEN, (num_frames - MIN_EVENT_GAP + 1) // 2)
    if length < 1:
        raise ValueError(
            f'num_frames must be >= {MIN_EVENT_GAP + 1} so that two events '
            f'{MIN_EVENT_GAP} frames apart fit, got {num_frames}')
    return length


def _base_sequence(pair, rng, num_frames, size):
    """Frames (T, H, W, 3) float32 RGB + meta of the even class ``2*pair``."""
    T, S = num_frames, size
    # ---- nuisance shared by all pairs -------------------------------------
    bg_colour = rng.uniform(25.0, 110.0, size=3).astype(np.float32)
    coarse = max(2, S // 8)
    texture = rng.normal(0.0, 1.0, size=(coarse, coarse, 3))
    # bilinear upsampling of the coarse texture (smooth static background)
    idx = np.linspace(0, coarse - 1, S)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, coarse - 1)
    w = (idx - i0)[:, None]
    rows = texture[i0] * (1 - w)[..., None] + texture[i1] * w[..., None]
    texture = rows[:, i0] * (1 - w)[None] + rows[:, i1] * w[None]
    background = bg_colour + 12.0 * texture.astype(np.float32)
    hue = rng.uniform(0.0, 1.0)
    sat = rng.uniform(0.5, 1.0)
    val = rng.uniform(0.85, 1.0)
    obj_colour = 255.0 * np.array(colorsys.hsv_to_rgb(hue, sat, val),
                                  dtype=np.float32)
    obj_size = S * rng.uniform(0.19, 0.25)  # ~12-16 px at 64 px
    shape = 'square' if rng.uniform() < 0.5 else 'circle'

    masks = np.zeros((T, S, S), dtype=np.float32)
    meta = dict(pair=pair, shape=shape, obj_size=float(obj_size))
    if pair in (0, 1):  # a bar sweeping right (0) / down (1), wrapping
        # A bar across the whole frame makes motion the dominant signal (a
        # small blob leaves too little to learn from in a CPU demo); its
        # position is uniform at every time step, so a frame shows the axis
        # of the pair but never the direction.
        speed = S * rng.uniform(2.0, 3.0) / 64.0  # 2-3 px / frame at 64 px
        start = rng.uniform(0.0, S)
        width = obj_size * 0.75
        coords = np.arange(S, dtype=np.float32) + 0.5
        for t in range(T):
            offset = (coords - (start + speed * t) + S / 2.0) % S - S / 2.0
            profile = np.clip(width / 2.0 + 0.5 - np.abs(offset), 0.0, 1.0)
            masks[t] = (profile[None, :] if pair == 0 else profile[:, None])
        meta.update(speed=float(speed), start=float(start), width=width)
    elif pair == 2:  # approaching = growing
        s_min = S * rng.uniform(0.08, 0.12)
        s_max = S * rng.uniform(0.38, 0.45)
        cx, cy = rng.uniform(s_max / 2, S - s_max / 2, size=2)
        sizes = np.linspace(s_min, s_max, T)
        for t in range(T):
            masks[t] = _soft_mask(shape, cx, cy, sizes[t] / 2, S)
        meta.update(sizes=sizes.tolist(), centre=(float(cx), float(cy)))
    elif pair == 3:  # square (A) flash early, circle (B) flash late
        length = _event_length(T)
        slack = T - 2 * length - MIN_EVENT_GAP + 1
        # (j1, j2) uniform over {j1, j2 >= 0, j1 + j2 <= slack}: symmetric
        # under time reversal (j1 <-> j2)
        choices = [(a, b) for a in range(slack + 1)
                   for b in range(slack + 1 - a)]
        j1, j2 = choices[rng.integers(len(choices))]
        a_start = j1
        b_start = T - length - j2
        # Both flashes large and at one place: which came first is then a
        # question about time at each position (what a DTF block answers),
        # not a search across the frame.
        ev_size = S * rng.uniform(0.4, 0.5)
        cx, cy = rng.uniform(ev_size / 2, S - ev_size / 2, size=2)
        events = []
        for ev_shape, start in (('square', a_start), ('circle', b_start)):
            mask = _soft_mask(ev_shape, cx, cy, ev_size / 2, S)
            masks[start:start + length] = mask
            events.append((ev_shape, start, start + length - 1))
        meta.update(events=events, centre=(float(cx), float(cy)),
                    event_size=float(ev_size))
        meta['shape'] = None
    else:
        raise ValueError(f'pair must be in 0..3, got {pair}')

    # per-frame sensor noise ("static"), same distribution for every frame
    noise = rng.normal(0.0, 3.0, size=(T, S, S, 3)).astype(np.float32)
    alpha = masks[..., None]
    frames = background[None] * (1.0 - alpha) + obj_colour * alpha + noise
    return frames, meta


def generate_clip(label, rng, num_frames=16, size=64, return_meta=False):
    """Generate the frames of one video of class ``label``.

    Args:
        label (int): class index in ``range(len(CLASSES))``.
        rng (np.random.Generator | int): random generator (or seed) for the
            nuisance parameters.  For the same generator state, the clip of
            class ``2k + 1`` is exactly the clip of class ``2k`` reversed in
            time.
        num_frames (int): number of frames (>= 9).
        size (int): frame height and width in pixels.
        return_meta (bool): also return a dict of the drawn parameters (for
            classes 6 / 7 ``meta['events']`` lists ``(shape, first, last)``
            frame indices in the returned clip's time order).

    Returns:
        np.ndarray: uint8 array of shape ``(num_frames, size, size, 3)``, RGB.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f'label must be in 0..{len(CLASSES) - 1}, '
                         f'got {label}')
    _event_length(num_frames)  # validate num_frames for every class
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    frames, meta = _base_sequence(label // 2, rng, num_frames, size)
    clip = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    if label % 2 == 1:
        clip = np.ascontiguousarray(clip[::-1])
        if 'events' in meta:
            meta['events'] = sorted(
                (s, num_frames - 1 - last, num_frames - 1 - first)
                for s, first, last in meta['events'])
        if 'sizes' in meta:
            meta['sizes'] = meta['sizes'][::-1]
    meta['label'] = label
    return (clip, meta) if return_meta else clip


def clip_rng(seed, split, label, index):
    """Generator for video ``index`` of class ``label`` in ``split``.  Both
    classes of a time-reversal pair get the same generator (same nuisance)."""
    return np.random.default_rng([seed, _SPLIT_IDS[split], label // 2, index])


def write_video(path, frames, fps=8):
    """Encode RGB uint8 frames ``(T, H, W, 3)`` to ``path`` (mp4v)."""
    import cv2
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError('frames must be a uint8 array of shape (T, H, W, 3), '
                         f'got {frames.dtype} {frames.shape}')
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter could not open {path!r} '
                           "with fourcc 'mp4v'")
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))  # RGB->BGR
    finally:
        writer.release()


def read_video(path):
    """Decode all frames of ``path`` with decord -> uint8 ``(T, H, W, 3)``
    RGB."""
    import decord
    reader = decord.VideoReader(path, num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def check_videos(root, num_frames, size=None, splits=('train', 'val')):
    """Read every video listed in the annotation files back with decord and
    raise ``RuntimeError`` naming the file if its frame count (or, if given,
    frame size) is wrong.  Returns the number of videos checked."""
    import decord
    checked = 0
    for split in splits:
        for rel_path, _ in _read_list(osp.join(root, f'{split}_list.txt')):
            path = osp.join(root, 'videos', rel_path)
            try:
                reader = decord.VideoReader(path, num_threads=1)
                count = len(reader)
                shape = reader[0].shape if count else None
            except Exception as exc:  # decord raises its own DECORDError
                raise RuntimeError(
                    f'decord could not read video {path}: {exc}') from exc
            if count != num_frames:
                raise RuntimeError(f'video {path} has {count} frames, '
                                   f'expected {num_frames}')
            if size is not None and tuple(shape[:2]) != (size, size):
                raise RuntimeError(f'video {path} has frame size '
                                   f'{shape[:2]}, expected {(size, size)}')
            checked += 1
    return checked


def _read_list(path):
    entries = []
    with open(path) as f:
        for line in f:
            if line.strip():
                rel_path, label = line.rsplit(maxsplit=1)
                entries.append((rel_path, int(label)))
    return entries


def make_demo_dataset(root,
                      num_frames=16,
                      size=64,
                      train_per_class=40,
                      val_per_class=10,
                      seed=0,
                      fps=8,
                      check=False):
    """Write the synthetic dataset to ``root`` and return a summary dict.

    See the module docstring for layout and class definitions.  With
    ``check=True`` every written video is read back with decord and verified
    to have ``num_frames`` frames of ``size x size`` pixels.
    """
    _event_length(num_frames)
    return write_dataset(root, CLASSES, generate_clip, num_frames=num_frames,
                         size=size, train_per_class=train_per_class,
                         val_per_class=val_per_class, seed=seed, fps=fps,
                         check=check)


def write_dataset(root, classes, generate, num_frames=16, size=64,
                  train_per_class=40, val_per_class=10, seed=0, fps=8,
                  check=False):
    """Write ``generate(label, rng, num_frames, size)``'s clips for every
    class and split under ``root`` (the layout of the module docstring) and
    return a summary dict; shared by the order-only datasets in tools/."""
    video_dir = osp.join(root, 'videos')
    counts = dict(train=train_per_class, val=val_per_class)
    lists = {}
    for split, per_class in counts.items():
        lines = []
        for label, name in enumerate(classes):
            os.makedirs(osp.join(video_dir, split, name), exist_ok=True)
        videos = [(label, name, index) for label, name in enumerate(classes)
                  for index in range(per_class)]
        for label, name, index in track(videos, desc=f'{split} videos'):
            clip = generate(label, clip_rng(seed, split, label, index),
                            num_frames, size)
            rel_path = f'{split}/{name}/{index:04d}.mp4'
            write_video(osp.join(video_dir, rel_path), clip, fps=fps)
            lines.append(f'{rel_path} {label}\n')
        lists[split] = osp.join(root, f'{split}_list.txt')
        with open(lists[split], 'w') as f:
            f.writelines(lines)
    class_list = osp.join(root, 'classes.txt')
    with open(class_list, 'w') as f:
        f.writelines(f'{name}\n' for name in classes)
    if check:
        check_videos(root, num_frames, size)
    num_train = train_per_class * len(classes)
    num_val = val_per_class * len(classes)
    return dict(
        root=root,
        video_prefix=video_dir,
        train_list=lists['train'],
        val_list=lists['val'],
        class_list=class_list,
        classes=list(classes),
        num_classes=len(classes),
        num_train=num_train,
        num_val=num_val,
        num_videos=num_train + num_val,
        num_frames=num_frames,
        size=size,
        fps=fps,
        seed=seed,
        checked=bool(check))


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
