from .checked_video_dataset import (SKIPPED_VIDEOS, BadVideoError,
                                    CheckedVideoDataset)

__all__ = ['BadVideoError', 'CheckedVideoDataset', 'SKIPPED_VIDEOS']
from .transforms import SegmentsToClips  # noqa: F401,E402
