"""Count the bad videos a training epoch skipped, and report them.

A ``CheckedVideoDataset`` with ``skip_bad_videos=True`` replaces a sample it
cannot load by another one. Samples are loaded in dataloader workers,
separate processes whose counters the main process cannot see, so the
dataset tags each replacement sample with the videos skipped for it
(``data_sample.metainfo['skipped_videos']``). The tags travel with the batch
to the main process, where this hook reads them after every iteration: the
counts are exact for any ``num_workers``, with or without persistent
workers, and are summed over all ranks at the end of each epoch.
"""
from collections import Counter
from typing import Optional

from mmaction.registry import HOOKS
from mmengine.dist import all_gather_object
from mmengine.hooks import Hook

from ...datasets.checked_video_dataset import SKIPPED_VIDEOS

#: at most this many files are named in an epoch's summary
MAX_REPORTED_FILES = 20


@HOOKS.register_module()
class BadVideoHook(Hook):
    """Report the number of bad videos skipped in every training epoch.

    Use it with ``CheckedVideoDataset(skip_bad_videos=True)``::

        custom_hooks = [dict(type='BadVideoHook')]

    At the end of each epoch it logs (rank 0) how many samples were replaced
    and which files were skipped, summed over all ranks.

    Attributes:
        epoch_counts (list[Counter]): Per finished epoch, skips per
            ``(filename, annotation line)``, summed over ranks.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.epoch_counts = []
        self._counts = Counter()

    def before_train_epoch(self, runner) -> None:
        self._counts = Counter()

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        samples = data_batch.get('data_samples') if isinstance(
            data_batch, dict) else None
        for sample in samples or ():
            metainfo = getattr(sample, 'metainfo', {})
            for filename, ann_line in metainfo.get(SKIPPED_VIDEOS, ()):
                self._counts[(filename, ann_line)] += 1

    def after_train_epoch(self, runner) -> None:
        counts = Counter()
        for rank_counts in all_gather_object(self._counts):
            counts.update(rank_counts)
        self.epoch_counts.append(counts)
        total = sum(counts.values())
        if not total:
            return
        files = '\n'.join(
            f'  {filename} (annotation line {line}): {count}x'
            for (filename, line), count in counts.most_common(
                MAX_REPORTED_FILES))
        more = len(counts) - MAX_REPORTED_FILES
        if more > 0:
            files += f'\n  ... and {more} more files'
        runner.logger.warning(
            f'Epoch {runner.epoch + 1}: skipped {total} bad video sample(s) '
            f'of {len(counts)} file(s) (skip_bad_videos=True), each '
            f'replaced by another sample:\n{files}')
