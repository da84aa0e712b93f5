"""A ``VideoDataset`` that checks its annotation file and names bad videos.

MMAction2's ``VideoDataset`` trusts its data: a malformed annotation line
fails with a bare ``ValueError: invalid literal for int()``, a label outside
the head's classes fails inside the loss (or, on GPUs, as a device-side
assert), and a missing, empty or truncated video fails deep inside the
decoder with a message that names neither the file nor the annotation line.

:class:`CheckedVideoDataset` reads the same annotation files and runs the
same pipelines, and

- checks every annotation line when the dataset is built (column count,
  integer labels, labels in ``[0, num_classes)``) and reports all bad lines,
  with their line numbers, in one error;
- turns any failure to load a sample (missing file, zero-byte file, a video
  the decoder cannot read, a failing transform) into a :class:`BadVideoError`
  that names the video, its annotation line and the transform that failed;
- with ``skip_bad_videos=True`` (training sets only) replaces a bad sample by
  a random other one instead, warns once per file (per process), and tags the
  replacement with the skipped video so that
  :class:`~mmdtf.engine.hooks.BadVideoHook` can count skips in the main
  process, whatever the number of dataloader workers;
- names the video being loaded in the traceback that ``faulthandler`` prints
  if a decoder crashes the process (a segmentation fault kills a dataloader
  worker before Python can report anything).

Videos shorter than the clip are not bad by default: MMAction2's
``SampleFrames`` loops them (``out_of_bound_opt='loop'``) or repeats their
last frame (``'repeat_last'``), as its recipes expect. Set ``min_frames`` to
treat videos with fewer frames as bad videos.
"""
import faulthandler
import logging
import os.path as osp
import sys
import types
from typing import Any, Callable, List, Optional, Union

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from mmaction.utils import ConfigType
from mmengine.fileio import list_from_file
from mmengine.logging import print_log

#: metainfo key of a data sample listing the bad videos skipped for it
SKIPPED_VIDEOS = 'skipped_videos'
#: at most this many bad annotation lines are quoted in one error
MAX_REPORTED_LINES = 10


class BadVideoError(RuntimeError):
    """A sample's video could not be loaded.

    Constructible from its message alone, so that PyTorch can re-raise it in
    the main process when a dataloader worker raised it.
    """

    def __init__(self,
                 msg: str,
                 filename: Optional[str] = None,
                 ann_line: Optional[int] = None,
                 problem: Optional[str] = None) -> None:
        super().__init__(msg)
        self.filename = filename
        self.ann_line = ann_line
        self.problem = problem or msg  # without the advice on fixing it


def _call_in_frame_named(name: str, func: Callable, *args) -> Any:
    """``func(*args)``, called from a frame whose function is named ``name``.

    ``faulthandler`` prints function names, not arguments: this puts the
    video being loaded into the traceback it prints on a hard crash.
    """
    code = _call.__code__.replace(co_name=name)
    if sys.version_info >= (3, 11):
        code = code.replace(co_qualname=name)
    return types.FunctionType(code, _call.__globals__)(func, *args)


def _call(func: Callable, *args) -> Any:
    return func(*args)


def _enable_faulthandler() -> None:
    """Print a traceback if a decoder crashes this process (a worker)."""
    if faulthandler.is_enabled():
        return
    try:
        faulthandler.enable()
    except (AttributeError, OSError, RuntimeError, ValueError):
        pass  # no usable sys.stderr (e.g. notebooks): nowhere to print


@DATASETS.register_module()
class CheckedVideoDataset(VideoDataset):
    """``VideoDataset`` with annotation checks and bad-video handling.

    The annotation file has the format of ``VideoDataset``: one
    ``<video path><delimiter><label>`` per line (``<label> ...`` for
    ``multi_class``; a path alone, label -1, only in test mode). Blank lines
    are ignored.

    Args:
        ann_file (str): Path to the annotation file.
        pipeline (list[dict | callable]): A sequence of data transforms.
        num_classes (int, optional): Number of classes; labels must lie in
            ``[0, num_classes)``. Should equal the head's ``num_classes``.
            Defaults to None (labels must only be non-negative).
        skip_bad_videos (bool): If True, a training sample whose video cannot
            be loaded is replaced by a random other sample, with a warning.
            If False, loading it raises :class:`BadVideoError`. Only for
            training sets: a val/test set must evaluate every video.
            Defaults to False.
        min_frames (int, optional): Videos with fewer frames are bad videos.
            Defaults to None: short videos are sampled as ``SampleFrames``
            does (looped by default).
        **kwargs: The other arguments of ``VideoDataset`` (``data_prefix``,
            ``multi_class``, ``test_mode``, ``delimiter``, ...) and of
            MMEngine's ``BaseDataset`` (``max_refetch``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[ConfigType, Callable]],
                 num_classes: Optional[int] = None,
                 skip_bad_videos: bool = False,
                 min_frames: Optional[int] = None,
                 **kwargs) -> None:
        if skip_bad_videos and kwargs.get('test_mode', False):
            raise ValueError(
                f'{type(self).__name__}({ann_file!r}): skip_bad_videos=True '
                'is for training sets only; a val/test set in test_mode must '
                'evaluate every video. Remove `skip_bad_videos` from '
                '`val_dataloader.dataset` / `test_dataloader.dataset` and '
                'fix or remove the bad videos.')
        if num_classes is not None and num_classes < 1:
            raise ValueError(
                f'{type(self).__name__}({ann_file!r}): num_classes must be '
                f'positive, got num_classes={num_classes!r}. Set the '
                'dataset\'s `num_classes` (e.g. '
                '`train_dataloader.dataset.num_classes`) to the number of '
                'classes, as `model.cls_head.num_classes`, or remove it to '
                'check only that labels are non-negative.')
        if min_frames is not None and min_frames < 1:
            raise ValueError(
                f'{type(self).__name__}({ann_file!r}): min_frames must be '
                f'positive, got min_frames={min_frames!r}. Set the dataset\'s '
                '`min_frames` (e.g. `train_dataloader.dataset.min_frames`) '
                'to the fewest frames a usable video has, or remove it.')
        self.skip_bad_videos = skip_bad_videos
        self.min_frames = min_frames
        self._warned_files = set()  # per process: workers have their own
        self._dropped_by = None  # the transform that last returned None
        super().__init__(
            ann_file, pipeline=pipeline, num_classes=num_classes, **kwargs)

    # ------------------------------------------------------------------
    # annotations
    # ------------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Parse and check the annotation file; every line is checked."""
        if not osp.isfile(self.ann_file) and '://' not in self.ann_file:
            raise FileNotFoundError(
                f'Annotation file {self.ann_file} not found (ann_file of '
                f'{type(self).__name__}).')
        data_list, errors = [], []
        for line_no, line in enumerate(list_from_file(self.ann_file), 1):
            if not line.strip():
                continue
            try:
                filename, label = self._parse_line(line)
            except ValueError as error:
                errors.append(f'  line {line_no}: {error}: {line!r}')
                continue
            if self.data_prefix['video'] is not None:
                filename = osp.join(self.data_prefix['video'], filename)
            data_list.append(
                dict(filename=filename, label=label, ann_line=line_no))
        if errors:
            shown = '\n'.join(errors[:MAX_REPORTED_LINES])
            more = len(errors) - MAX_REPORTED_LINES
            if more > 0:
                shown += f'\n  ... and {more} more'
            raise ValueError(
                f'{len(errors)} bad line(s) in annotation file '
                f'{self.ann_file}:\n{shown}\nExpected '
                f'{self._expected_line()} per line.')
        if not data_list:
            raise ValueError(f'Annotation file {self.ann_file} lists no '
                             f'videos; expected {self._expected_line()} per '
                             'line.')
        return data_list

    def _expected_line(self) -> str:
        sep = repr(self.delimiter)
        labels = '<label> [<label> ...]' if self.multi_class else '<label>'
        where = ('in [0, num_classes) with num_classes='
                 f'{self.num_classes} (the dataset\'s `num_classes`, as '
                 '`model.cls_head.num_classes`)' if self.num_classes
                 is not None else '>= 0 (set the dataset\'s `num_classes` '
                 'to also check the upper bound)')
        return (f'"<video path>{self.delimiter}{labels}" (columns separated '
                f'by {sep}), integer labels {where}')

    def _parse_line(self, line: str):
        columns = line.strip().split(self.delimiter)
        if self.multi_class:
            if len(columns) < 2:
                raise ValueError(
                    f'expected a path and at least one label, got '
                    f'{len(columns)} column(s)')
            return columns[0], [self._parse_label(c) for c in columns[1:]]
        if len(columns) == 1 and self.test_mode:
            return columns[0], -1  # unlabelled test list, as VideoDataset
        if len(columns) != 2:
            raise ValueError(
                f'expected 2 columns (path, label), got {len(columns)}')
        return columns[0], self._parse_label(columns[1])

    def _parse_label(self, text: str) -> int:
        try:
            label = int(text)
        except ValueError:
            raise ValueError(f'label {text!r} is not an integer') from None
        if label < 0:
            raise ValueError(f'label {label} is negative')
        if self.num_classes is not None and label >= self.num_classes:
            raise ValueError(f'label {label} is outside [0, '
                             f'{self.num_classes}) (num_classes='
                             f'{self.num_classes})')
        return label

    # ------------------------------------------------------------------
    # samples
    # ------------------------------------------------------------------
    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            self.full_init()
        skipped, error = [], None
        dropped = []  # (idx, transform) of samples the pipeline dropped
        for _ in range(self.max_refetch + 1):
            self._dropped_by = None
            try:
                data = self.prepare_data(idx)
            except BadVideoError as exc:
                if not self.skip_bad_videos:
                    raise
                error = exc
                self._warn_skip(exc)
                skipped.append((exc.filename, exc.ann_line))
                idx = self._rand_another()
                continue
            if data is None:  # a transform dropped the sample (train only)
                if self.test_mode:
                    raise BadVideoError(
                        f'The test-time pipeline returned None for sample '
                        f'{idx} ({self._describe(self.get_data_info(idx))}'
                        f'{self._dropped_by_text()}).')
                dropped.append((idx, self._dropped_by))
                idx = self._rand_another()
                continue
            if skipped:
                self._tag_skipped(data, skipped)
            return data
        raise RuntimeError(self._gave_up_message(skipped, error, dropped))

    def _gave_up_message(self, skipped: list, error: Optional[BadVideoError],
                         dropped: list) -> str:
        """Why ``__getitem__`` found no sample: bad videos skipped and/or
        samples the pipeline dropped (returned None for)."""
        attempts = self.max_refetch + 1
        reasons = []
        if skipped:
            reasons.append(
                f'{len(skipped)} bad video(s) skipped (skip_bad_videos=True), '
                f'the last: {error.problem}')
        if dropped:
            idx, transform = dropped[-1]
            by = f', dropped by {transform}' if transform else ''
            reasons.append(
                f'the pipeline returned None for {len(dropped)} sample(s), '
                f'the last: sample {idx}, '
                f'{self._describe(self.get_data_info(idx))}{by}')
        advice = []
        if dropped:
            advice.append('check why the pipeline drops these samples (a '
                          'transform that returns None discards its sample)')
        if skipped:
            advice.append('fix or remove the bad videos')
        advice.append('or raise the dataset\'s `max_refetch` (e.g. '
                      '`--cfg-options train_dataloader.dataset.max_refetch='
                      f'{2 * attempts}`)')
        advice = ', '.join(advice)
        return (f'No usable sample found in {attempts} attempts '
                f'(max_refetch={self.max_refetch}) in {self.ann_file}: '
                + '; '.join(reasons) + '. ' + advice[0].upper() + advice[1:]
                + '.')

    def _dropped_by_text(self) -> str:
        return (f', dropped by {self._dropped_by}' if self._dropped_by
                else '')

    def prepare_data(self, idx: int) -> Any:
        """Load and transform sample ``idx``; raise :class:`BadVideoError`
        naming the video and its annotation line if that fails."""
        data_info = self.get_data_info(idx)
        _enable_faulthandler()
        name = f'load {self._describe(data_info)}'
        return _call_in_frame_named(name, self._load, data_info)

    def _load(self, data_info: dict) -> Any:
        filename = data_info['filename']
        if '://' not in filename:  # local files: say what is wrong plainly
            if not osp.exists(filename):
                raise self._bad_video(data_info, 'file not found')
            if osp.getsize(filename) == 0:
                raise self._bad_video(data_info, 'empty file (0 bytes)')
        results = data_info
        for transform in self.pipeline.transforms:
            try:
                results = transform(results)
            except Exception as exc:
                raise self._bad_video(
                    data_info, f'{_transform_name(transform)} failed with '
                    f'{type(exc).__name__}: {exc}') from exc
            if results is None:
                self._dropped_by = _transform_name(transform)
                return None
            total = results.get('total_frames') if isinstance(
                results, dict) else None
            if (self.min_frames is not None and total is not None
                    and total < self.min_frames):
                raise self._bad_video(
                    data_info, f'it has {total} frames, fewer than '
                    f'min_frames={self.min_frames}')
        return results

    def _describe(self, data_info: dict) -> str:
        line = data_info.get('ann_line')
        where = f'line {line} of {self.ann_file}' if line else self.ann_file
        return f'{data_info["filename"]} ({where})'

    def _bad_video(self, data_info: dict, reason: str) -> BadVideoError:
        if self.test_mode:
            fix = ('Fix the video or remove its annotation line (val/test '
                   'sets cannot skip videos).')
        else:
            fix = ('Fix the video or remove its annotation line, or skip '
                   'such samples with a warning: set `skip_bad_videos=True` '
                   'in the dataset config (e.g. `--cfg-options '
                   'train_dataloader.dataset.skip_bad_videos=True`).')
        problem = f'Bad video {self._describe(data_info)}: {reason}'
        return BadVideoError(
            f'{problem}. {fix}',
            filename=data_info['filename'],
            ann_line=data_info.get('ann_line'),
            problem=problem)

    def _warn_skip(self, error: BadVideoError) -> None:
        if error.filename in self._warned_files:
            return
        self._warned_files.add(error.filename)
        print_log(
            f'{error.problem}. Skipped (skip_bad_videos=True): a random '
            'other sample is used instead.',
            logger='current',
            level=logging.WARNING)

    @staticmethod
    def _tag_skipped(data: Any, skipped: list) -> None:
        samples = data.get('data_samples') if isinstance(data, dict) else None
        if hasattr(samples, 'set_metainfo'):
            samples.set_metainfo({SKIPPED_VIDEOS: skipped})


def _transform_name(transform: Any) -> str:
    return getattr(transform, '__name__', type(transform).__name__)
