from .charades_map import CharadesMAP, evaluation_times, per_class_ap

__all__ = ['CharadesMAP', 'evaluation_times', 'per_class_ap']
