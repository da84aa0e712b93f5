from .checked_video_dataset import (SKIPPED_VIDEOS, BadVideoError,
                                    CheckedVideoDataset)

__all__ = ['BadVideoError', 'CheckedVideoDataset', 'SKIPPED_VIDEOS']
