"""The command-line arguments of the tools that build a model from a config
(``get_flops``, ``export_onnx``, ``visualize_filters``): the config path and
MMAction2's ``--cfg-options``, and the input ``--shape``."""
import argparse

from mmengine.config import Config, DictAction


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The positional ``config`` and ``--cfg-options key=value ...``."""
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')


def add_shape_argument(parser: argparse.ArgumentParser) -> None:
    """``--shape``, completed from the config by
    :func:`mmdtf.analysis.benchmark.input_shape_from`."""
    parser.add_argument(
        '--shape', type=int, nargs='+', default=None,
        help='input shape: H W (or one size) for the clip length (3D) or '
        'num_segments (2D: TSM, TIN) and format of the config, or N C H W '
        '(2D recognizer: N segments) or N C T H W (3D recognizer); default '
        '224 x 224')


def load_config(args: argparse.Namespace) -> Config:
    """``args.config`` with ``args.cfg_options`` merged in."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg
