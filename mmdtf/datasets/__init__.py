from .checked_video_dataset import (SKIPPED_VIDEOS, BadVideoError,
                                    CheckedVideoDataset)

__all__ = ['BadVideoError', 'CheckedVideoDataset', 'SKIPPED_VIDEOS']
from .charades_dataset import CharadesDataset, parse_actions  # noqa: E402
from .transforms import (LoadFineFeatures, SampleDetectionFrames,  # noqa: E402
                         SegmentsToClips)

__all__ += ['CharadesDataset', 'LoadFineFeatures', 'SampleDetectionFrames',
            'parse_actions', 'SegmentsToClips']
