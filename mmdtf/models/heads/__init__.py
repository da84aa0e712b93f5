from .per_frame_head import PerFrameMultiLabelHead

__all__ = ['PerFrameMultiLabelHead']
