"""Charades (official CSV annotations, RGB frame folders) for per-frame
multi-label activity detection."""
import csv
import os
import os.path as osp
from typing import List, Optional, Tuple

from mmaction.datasets import BaseActionDataset
from mmaction.registry import DATASETS

REQUIRED_COLUMNS = ('id', 'actions', 'length')


def parse_actions(text: str, where: str,
                  num_classes: int) -> List[Tuple[int, float, float]]:
    """``'c092 11.90 21.20;c147 0.00 12.60'`` -> [(92, 11.9, 21.2), ...]."""
    actions = []
    for item in filter(None, (s.strip() for s in (text or '').split(';'))):
        parts = item.split()
        try:
            if len(parts) != 3 or not parts[0].startswith('c'):
                raise ValueError
            label, start, end = int(parts[0][1:]), float(parts[1]), float(
                parts[2])
        except ValueError:
            raise ValueError(f"{where}: action {item!r} is not 'cNNN start "
                             "end' (e.g. 'c092 11.90 21.20')") from None
        if not 0 <= label < num_classes:
            raise ValueError(f'{where}: class c{label:03d} is outside '
                             f'num_classes={num_classes} (dataset key '
                             'num_classes)')
        if end < start:
            raise ValueError(f'{where}: action {item!r} ends before it starts')
        actions.append((label, start, end))
    return actions


@DATASETS.register_module()
class CharadesDataset(BaseActionDataset):
    """Charades_v1_{train,test}.csv with frames in
    ``data_prefix['img']/<id>/<id>-000001.jpg`` (the official RGB frames).

    Each video's fps is its frame count over its ``length`` (seconds), as in
    the public Coarse-Fine code. Per-frame targets are made after frame
    sampling (:class:`SampleDetectionFrames`).

    Args:
        fine_feature_prefix (str | None): Folder of ``<id>.npz`` fine-stream
            features (``tools/data/extract_fine_features.py``), read by
            :class:`LoadFineFeatures`; None for the coarse stream alone.
    """

    def __init__(self, ann_file: str, pipeline: list,
                 data_prefix: dict = dict(img=''), num_classes: int = 157,
                 filename_tmpl: str = '{video_id}-{:06d}.jpg',
                 fine_feature_prefix: Optional[str] = None,
                 start_index: int = 1, **kwargs):
        self.filename_tmpl = filename_tmpl
        self.fine_feature_prefix = fine_feature_prefix
        super().__init__(ann_file, pipeline, data_prefix=data_prefix,
                         num_classes=num_classes, start_index=start_index,
                         modality='RGB', **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'Charades annotation {self.ann_file} not found (set ann_file'
                ' to Charades_v1_train.csv / Charades_v1_test.csv)')
        data_list = []
        with open(self.ann_file, newline='') as f:
            reader = csv.DictReader(f)
            missing = set(REQUIRED_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(
                    f'{self.ann_file}: header {reader.fieldnames} lacks '
                    f'{sorted(missing)}; expected the official columns id,'
                    'subject,scene,quality,relevance,verified,script,objects,'
                    'descriptions,actions,length')
            for line, row in enumerate(reader, start=2):
                data_list.append(self.parse_row(row, line))
        return data_list

    def parse_row(self, row: dict, line: int) -> dict:
        vid = row['id']
        where = f'{self.ann_file} line {line} (id {vid!r})'
        if None in row or any(row[k] is None for k in REQUIRED_COLUMNS):
            raise ValueError(f'{where}: wrong number of columns')
        try:
            duration = float(row['length'])
        except ValueError:
            raise ValueError(f'{where}: length {row["length"]!r} is not a '
                             'number of seconds') from None
        if duration <= 0:
            raise ValueError(f'{where}: length {duration} must be > 0')
        actions = parse_actions(row['actions'], where, self.num_classes)
        frame_dir = osp.join(self.data_prefix['img'], vid)
        if not osp.isdir(frame_dir):
            raise FileNotFoundError(
                f'{where}: frame folder {frame_dir} not found (data_prefix.img'
                ' must hold one folder of RGB frames per video id)')
        total_frames = len(os.listdir(frame_dir))
        info = dict(video_id=vid, frame_dir=frame_dir,
                    total_frames=total_frames, duration=duration,
                    fps=total_frames / duration, actions=actions,
                    num_classes=self.num_classes,
                    filename_tmpl=self.filename_tmpl.replace('{video_id}',
                                                             vid))
        if self.fine_feature_prefix is not None:
            info['fine_feature_file'] = osp.join(self.fine_feature_prefix,
                                                 f'{vid}.npz')
        return info
