from .bad_video_hook import BadVideoHook
from .epoch_seed_hook import EpochSeedHook
from .progress_hook import ProgressHook
from .tcpnet_checkpoint_hook import TCPNetCheckpointHook

__all__ = ['BadVideoHook', 'EpochSeedHook', 'ProgressHook',
           'TCPNetCheckpointHook']
