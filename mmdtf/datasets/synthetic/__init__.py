"""Synthetic datasets the demos, tests and analyses train on, written to
disk in the layouts the configs read (``tools/data/make_*_dataset.py``).

Not imported by ``import mmdtf``: they need OpenCV, decord and (the textures)
Matplotlib, and no config refers to them.
"""
from .detection_events import make_detection_demo_dataset
from .shape_order import make_demo_dataset
from .texture_order import make_texture_order_dataset
from .video_files import check_videos, read_video, write_video

__all__ = [
    'make_demo_dataset', 'make_texture_order_dataset',
    'make_detection_demo_dataset', 'write_video', 'read_video', 'check_videos'
]
