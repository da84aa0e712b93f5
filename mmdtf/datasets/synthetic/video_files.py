"""A synthetic video dataset on disk, in MMAction2's ``VideoDataset``
layout, and the checks that read it back.

Layout under ``<root>``::

    <root>/classes.txt            one class name per line, in label order
    <root>/train_list.txt         "train/<class>/<idx>.mp4 <label>" per line
    <root>/val_list.txt           "val/<class>/<idx>.mp4 <label>" per line
    <root>/videos/train/<class>/<idx>.mp4
    <root>/videos/val/<class>/<idx>.mp4

Video paths in the annotation files are relative to ``<root>/videos``, i.e.
an MMAction2 ``VideoDataset`` is configured with
``ann_file='<root>/train_list.txt'`` and
``data_prefix=dict(video='<root>/videos')``.

Every video gets its own generator (:func:`clip_rng`), keyed by ``(seed,
split, pair, index)``: the two classes ``2k`` and ``2k + 1`` of a pair draw
the same nuisance, which is what lets the order-only datasets make one the
other's exact time reversal.
"""
import os
import os.path as osp

import numpy as np

from mmdtf.utils.progress import track

_SPLIT_IDS = {'train': 0, 'val': 1}


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


def write_dataset(root, classes, generate, num_frames=16, size=64,
                  train_per_class=40, val_per_class=10, seed=0, fps=8,
                  check=False):
    """Write ``generate(label, rng, num_frames, size)``'s clips for every
    class and split under ``root`` and
    return a summary dict (the module docstring has the layout)."""
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
