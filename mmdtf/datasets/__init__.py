from .checked_video_dataset import (SKIPPED_VIDEOS, BadVideoError,
                                    CheckedVideoDataset)

__all__ = ['BadVideoError', 'CheckedVideoDataset', 'SKIPPED_VIDEOS']
from .charades_dataset import CharadesDataset, parse_actions  # noqa: E402
from .coarse_fine_transforms import (LoadFineFeatures,  # noqa: E402
                                     SampleDetectionFrames, frame_targets)
from .transforms import SegmentsToClips  # noqa: F401,E402

__all__ += ['CharadesDataset', 'LoadFineFeatures', 'SampleDetectionFrames',
            'frame_targets', 'parse_actions', 'SegmentsToClips']
