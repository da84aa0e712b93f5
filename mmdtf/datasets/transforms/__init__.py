from .sample_detection_frames import LoadFineFeatures, SampleDetectionFrames
from .segments_to_clips import SegmentsToClips

__all__ = ['LoadFineFeatures', 'SampleDetectionFrames', 'SegmentsToClips']
