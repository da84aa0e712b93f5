from .bfloat16_heads import enable_bfloat16_heads
from .cpu_distributed import enable_cpu_distributed
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403

enable_cpu_distributed()  # MMEngine's `pytorch` launcher, also without GPUs
enable_bfloat16_heads()  # MMAction2's heads under bfloat16 autocast

__all__ = ['enable_bfloat16_heads', 'enable_cpu_distributed']
