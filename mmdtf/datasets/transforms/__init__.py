from .load_fine_features import LoadFineFeatures
from .sample_detection_frames import SampleDetectionFrames
from .segments_to_clips import SegmentsToClips

__all__ = ['LoadFineFeatures', 'SampleDetectionFrames', 'SegmentsToClips']
