from .mmaction_compat import patch_missing_drn
from .resources import config_dir, resource_dir
from .safe_checkpoint import allow_mmengine_checkpoints

__all__ = ['patch_missing_drn', 'allow_mmengine_checkpoints', 'config_dir',
           'resource_dir']
