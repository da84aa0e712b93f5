from .resources import config_dir, resource_dir

__all__ = ['config_dir', 'resource_dir']
