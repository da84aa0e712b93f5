"""Regroup TSN-style multi-clip samples into clips of T segments each."""
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform


@TRANSFORMS.register_module()
class SegmentsToClips(BaseTransform):
    """Reorder ``frame_inds`` from segment-major to clip-major.

    ``SampleFrames(clip_len=1, num_clips=T * K, test_mode=True)`` spreads
    T*K frames evenly over the video: the k-th of every K consecutive frames
    lies in the same one of T segments. A per-frame average (TSNHead) does
    not care about their order; a head or backbone that sees time
    (``TCPHead``, ``ResNetTSM``) reads every T consecutive frames as one clip
    and would get K clips each covering 1/K of the video. After this step
    clip k holds the k-th frame of every segment: K clips of T segments over
    the whole video at K offsets, TCPNet's ``ten_clips_sample`` test. The
    frames are the same; with K == 1 (training) nothing changes.

    Required keys: ``frame_inds``. Modified keys: ``frame_inds``.

    Args:
        num_segments (int): T, segments per clip.
    """

    def __init__(self, num_segments: int) -> None:
        self.num_segments = num_segments

    def transform(self, results: dict) -> dict:
        inds = results['frame_inds']
        if inds.size % self.num_segments:
            raise ValueError(
                f'SegmentsToClips(num_segments={self.num_segments}) got '
                f'{inds.size} frame indices, not a multiple: SampleFrames '
                'must sample num_clips = num_segments * clips with '
                'clip_len=1.')
        results['frame_inds'] = inds.reshape(self.num_segments,
                                             -1).T.reshape(-1)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_segments={self.num_segments})'
