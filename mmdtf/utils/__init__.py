"""Low-level utilities that any layer may import (they import no other part
of mmdtf): where the shipped resources are (:mod:`.resources`), the
silenced dependency warnings (:mod:`.quiet_warnings`) and the progress line
of long-running tools (:mod:`.progress`)."""
from .resources import config_dir, resource_dir

__all__ = ['config_dir', 'resource_dir']
