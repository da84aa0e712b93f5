from .segments_to_clips import SegmentsToClips

__all__ = ['SegmentsToClips']
