"""Shared test helpers: the tools loaded as modules, tiny demo data and
configs, bad videos, subprocesses that cannot hang, and 2D ResNet
checkpoints in every key format docs/user_guides/pretrained.md lists. Test
modules ``import helpers`` (conftest.py puts tests/ on ``sys.path``)."""
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / 'tests'
DEMO_CONFIG = REPO / 'configs' / 'demo' / 'dtf_r18_demo.py'
#: what `mim train mmaction2` / `mim test mmaction2` run
MMACTION_TOOLS = Path(
    importlib.util.find_spec('mmaction').submodule_search_locations[0],
    '.mim', 'tools')
TRAIN_PY = MMACTION_TOOLS / 'train.py'
TEST_PY = MMACTION_TOOLS / 'test.py'
#: a time limit for every subprocess: nothing may hang CI
SUBPROCESS_TIMEOUT = 150


#: The demo config's model, pinned for tests that must not change with the
#: demo recipe: R18, T = 16 / 4, DTF (with channel mixing) in res4 and res5.
PINNED_DEMO_MODEL = """
model = dict(
    backbone=dict(depth=18, clip_len=16, temporal_stride=4,
                  dtf_stages=(False, False, True, True),
                  dtf_cfg=dict(_delete_=True, kernel_size=3,
                               group_factor=16, channel_mixing=True)),
    cls_head=dict(num_classes=8, in_channels=512))
"""


def write_pinned_demo_config(path: Path, extra: str = '') -> Path:
    """A config inheriting the demo config with :data:`PINNED_DEMO_MODEL`
    (and ``extra`` config text) at ``path``."""
    path.write_text(f'_base_ = [{str(DEMO_CONFIG)!r}]\n' + PINNED_DEMO_MODEL
                    + extra)
    return path


def load_tool(name: str):
    """``tools/<name>.py`` as a module (tools/ is no package), ``name``
    with its group, e.g. ``'analysis_tools/get_flops'``."""
    spec = importlib.util.spec_from_file_location(
        name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_demo_data(root: Path, train_per_class=2, val_per_class=1) -> dict:
    """The demo's synthetic dataset, small: 8 classes x ``*_per_class``."""
    from mmdtf.datasets.synthetic import make_demo_dataset
    return make_demo_dataset(str(root), train_per_class=train_per_class,
                             val_per_class=val_per_class)


def add_bad_videos(root: Path, ann_file: Path, short_frames=10) -> Dict:
    """Append bad videos to ``ann_file`` (paths relative to
    ``root/videos``): missing, zero-byte, truncated, and shorter than the
    16-frame clip. Returns ``{kind: (relative path, annotation line)}``."""
    from mmdtf.datasets.synthetic.shape_order import generate_clip
    from mmdtf.datasets.synthetic.video_files import write_video
    videos = root / 'videos'
    (videos / 'bad').mkdir(exist_ok=True)
    good = sorted(videos.glob('train/*/*.mp4'))[0].read_bytes()
    (videos / 'bad' / 'empty.mp4').write_bytes(b'')
    (videos / 'bad' / 'truncated.mp4').write_bytes(good[:len(good) // 2])
    clip = generate_clip(0, 0, num_frames=short_frames, size=64)
    write_video(str(videos / 'bad' / 'short.mp4'), clip)
    lines = [line for line in ann_file.read_text().splitlines() if line]
    bad = {}
    for kind in ('missing', 'empty', 'truncated', 'short'):
        lines.append(f'bad/{kind}.mp4 0')
        bad[kind] = (f'bad/{kind}.mp4', len(lines))
    ann_file.write_text('\n'.join(lines) + '\n')
    return bad


def make_bad_demo_data(root: Path):
    """A tiny demo dataset (one training video per class) with the bad
    videos of `add_bad_videos` appended to its training list."""
    make_demo_data(root, train_per_class=1, val_per_class=1)
    return root, add_bad_videos(root, root / 'train_list.txt')


def shrink_pipeline(pipeline: list, size: int) -> list:
    """The same transforms at ``size`` pixels (crops) and ``size + 4``
    (resizes). Before a ``ThreeCrop`` frames are resized to ``size`` high:
    MMAction2's ``ThreeCrop`` needs one side equal to the crop size."""
    three_crop = any(step['type'] == 'ThreeCrop' for step in pipeline)
    steps = []
    for step in pipeline:
        step = dict(step)
        if step['type'] == 'Resize':
            step['scale'] = (size + 4, size if three_crop else size + 4)
        elif step['type'] == 'RandomCrop':
            step['size'] = size
        elif 'crop_size' in step:
            step['crop_size'] = size
        steps.append(step)
    return steps


def demo_config(data_root: Path,
                work_dir: Optional[Path] = None,
                size: int = 16,
                batch_size: int = 4,
                max_epochs: int = 1,
                num_workers: int = 0,
                overrides: Optional[dict] = None) -> Config:
    """``configs/demo/dtf_r18_demo.py`` on the data at ``data_root``, small:
    ``size`` px, ``max_epochs``, a checkpoint and a validation every epoch,
    a log line every iteration, seed 0 and deterministic."""
    cfg = Config.fromfile(str(DEMO_CONFIG))
    for split, ann in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        loader = cfg[f'{split}_dataloader']
        loader.batch_size = batch_size if split != 'test' else 1
        loader.num_workers = num_workers
        loader.persistent_workers = False
        loader.dataset.ann_file = str(data_root / f'{ann}_list.txt')
        loader.dataset.data_prefix = dict(video=str(data_root / 'videos'))
        loader.dataset.pipeline = shrink_pipeline(loader.dataset.pipeline,
                                                  size)
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=-1)
    cfg.randomness = dict(seed=0, deterministic=True)
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    if overrides:
        cfg.merge_from_dict(overrides)
    return cfg


def write_config(cfg: Config, path: Path) -> Path:
    """Dump ``cfg`` to ``path`` for `mim train` / tools/train.py."""
    cfg.dump(str(path))
    return path


def subprocess_env() -> dict:
    env = dict(os.environ)
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)  # torch's default
    env.pop('TORCH_FORCE_WEIGHTS_ONLY_LOAD', None)
    # tests/ too: test-only modules a config may import (halt_hook)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(REPO), str(TESTS), env.get('PYTHONPATH')) if p)
    env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = '1'
    env['PYTHONWARNINGS'] = 'ignore'
    return env


def start(cmd: List[str], log: Path,
          env: Optional[dict] = None) -> subprocess.Popen:
    """Start ``cmd`` in its own process group, output to ``log``, with
    ``env`` (default: :func:`subprocess_env`)."""
    with open(log, 'w') as out:
        return subprocess.Popen(
            [str(c) for c in cmd], cwd=REPO,
            env=subprocess_env() if env is None else env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` and its children (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def run(cmd: List[str], log: Path, timeout=SUBPROCESS_TIMEOUT,
        check=True) -> subprocess.CompletedProcess:
    """Run ``cmd`` (killed after ``timeout`` s); its output in ``.stdout``."""
    proc = start(cmd, log)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        raise AssertionError(f'{cmd} ran over {timeout} s:\n{tail(log)}')
    finally:
        if proc.poll() is None:
            kill(proc)
    output = log.read_text()
    if check and proc.returncode:
        raise AssertionError(
            f'{cmd} failed (exit {proc.returncode}):\n{tail(log)}')
    return subprocess.CompletedProcess(cmd, proc.returncode, output)


def tail(log: Path, lines=60) -> str:
    return '\n'.join(log.read_text(errors='replace').splitlines()[-lines:])


def python_cmd(script: Path, *args) -> List[str]:
    return [sys.executable, str(script), *map(str, args)]


def ephemeral_ports() -> range:
    """The ports the kernel hands out for ``bind(port=0)`` and outgoing
    connections (Linux: ``ip_local_port_range``)."""
    try:
        low, high = map(int, Path('/proc/sys/net/ipv4/ip_local_port_range')
                        .read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def free_port(seed: Optional[int] = None) -> int:
    """A port for a launcher to listen on: free now, and below the
    ephemeral range, so that no other process's ``bind(port=0)`` or
    outgoing connection takes it between this check and the launcher's
    bind (a port from ``bind(port=0)`` would be one the kernel hands out
    again). Random, so that concurrent test runs hardly ever pick the same."""
    import random
    rng = random.Random(seed)
    low = 10000
    high = max(min(ephemeral_ports().start, 32768) - 1, low + 1)
    for _ in range(100):
        port = rng.randint(low, high)
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue  # in use: another
            return port
    raise RuntimeError(f'no free port in {low}..{high} after 100 tries')


def run_dirs(work_dir: Path) -> List[Path]:
    """The timestamped folders of the runs in ``work_dir``, oldest first."""
    return sorted(p.parent.parent
                  for p in Path(work_dir).glob('*/vis_data/scalars.json'))


def train_scalars(run_dir: Path) -> Dict[int, dict]:
    """``{iteration: scalars}`` of the training iterations of one run."""
    scalars = {}
    for line in (run_dir / 'vis_data' / 'scalars.json').read_text().split(
            '\n'):
        if line.strip():
            record = json.loads(line)
            if 'loss' in record:
                scalars[record['iter']] = record
    return scalars


def wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float,
             what: str, poll=0.05):
    """Poll ``predicate()`` until it is truthy; fail if ``proc`` ends or
    ``timeout`` s pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f'the run ended (exit {proc.returncode}) '
                                 f'before {what}:\n{tail(log)}')
        time.sleep(poll)
    kill(proc)
    raise AssertionError(f'no {what} within {timeout} s:\n{tail(log)}')


def global_flags() -> dict:
    """PyTorch's process-wide settings a test may change and every later
    test would inherit: what MMEngine's Runner sets (deterministic
    algorithms, cuDNN's flags), the default dtype, the thread count, grad
    and anomaly mode, OpenCV's thread count, and the environment."""
    import cv2
    return {
        'deterministic_algorithms': (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled()),
        'cudnn': (torch.backends.cudnn.enabled,
                  torch.backends.cudnn.deterministic,
                  torch.backends.cudnn.benchmark),
        'default_dtype': torch.get_default_dtype(),
        'num_threads': torch.get_num_threads(),
        'grad_enabled': torch.is_grad_enabled(),
        'anomaly': (torch.is_anomaly_enabled(),
                    torch.is_anomaly_check_nan_enabled()),
        'cv2_threads': cv2.getNumThreads(),
        'environ': dict(os.environ),
    }


def restore_global_flags(flags: dict) -> None:
    """Set back what :func:`global_flags` returned (only what changed:
    setting the thread count is not free)."""
    import cv2
    now = global_flags()
    if now['deterministic_algorithms'] != flags['deterministic_algorithms']:
        enabled, warn_only = flags['deterministic_algorithms']
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    (torch.backends.cudnn.enabled, torch.backends.cudnn.deterministic,
     torch.backends.cudnn.benchmark) = flags['cudnn']
    torch.set_default_dtype(flags['default_dtype'])
    if now['num_threads'] != flags['num_threads']:
        torch.set_num_threads(flags['num_threads'])
    torch.set_grad_enabled(flags['grad_enabled'])
    torch.set_anomaly_enabled(*flags['anomaly'])
    if now['cv2_threads'] != flags['cv2_threads']:
        cv2.setNumThreads(flags['cv2_threads'])
    if now['environ'] != flags['environ']:
        os.environ.clear()
        os.environ.update(flags['environ'])


@contextlib.contextmanager
def one_thread():
    """Run PyTorch on one thread, as the subprocesses do: on a busy 2-core
    machine, more threads than free cores make CPU training many times
    slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def ieee_float32():
    """float32 convolutions and matrix products in full float32 on CUDA.
    cuDNN runs float32 convolutions in TF32 by default (Ampere and later):
    a rounding of about 1e-3, the size of CPU-against-CUDA tolerances."""
    flags = (torch.backends.cudnn, torch.backends.cuda.matmul)
    saved = [flag.allow_tf32 for flag in flags]
    try:
        for flag in flags:
            flag.allow_tf32 = False
        yield
    finally:
        for flag, value in zip(flags, saved):
            flag.allow_tf32 = value


def write_moving_square_video(path: Path, num_frames=24, height=72, width=96,
                              seed=0) -> None:
    """A small mp4 (OpenCV) of a coloured square moving right."""
    import cv2
    import numpy as np
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 8,
                             (width, height))
    for t in range(num_frames):
        frame = np.full((height, width, 3), 40, np.uint8)
        x = (5 + 3 * t) % (width - 16)
        frame[20:36, x:x + 16] = rng.integers(100, 255, 3, dtype=np.uint8)
        writer.write(frame)
    writer.release()


def write_two_class_videos(root: Path) -> Path:
    """``root/videos/clip{0,1}.mp4`` (labels 0 and 1) and ``root/list.txt``,
    an MMAction2 VideoDataset list. Returns ``root``."""
    (root / 'videos').mkdir()
    lines = []
    for i in range(2):
        write_moving_square_video(root / 'videos' / f'clip{i}.mp4', seed=i)
        lines.append(f'clip{i}.mp4 {i}')
    (root / 'list.txt').write_text('\n'.join(lines) + '\n')
    return root


def scale_pipeline(pipeline: List[dict], factor: float,
                   clip_len: Optional[int] = None) -> List[dict]:
    """The same pipeline steps with every size divided by ``factor`` (and
    ``SampleFrames.clip_len`` set to ``clip_len`` if given)."""
    import copy

    def size(s):
        return s if s == -1 else round(s / factor)

    steps = []
    for step in copy.deepcopy(list(pipeline)):
        if step['type'] == 'SampleFrames' and clip_len is not None:
            step['clip_len'] = clip_len
        elif step['type'] == 'RandomRescale':
            step['scale_range'] = tuple(map(size, step['scale_range']))
        elif step['type'] == 'Resize':
            step['scale'] = tuple(map(size, step['scale']))
        elif 'crop_size' in step:
            step['crop_size'] = size(step['crop_size'])
        steps.append(step)
    return steps


def assert_checkpointing_changes_nothing(step) -> Dict[str, torch.Tensor]:
    """``step(with_cp)`` builds a model, runs one forward + backward and
    returns (parameter gradients, batch-norm buffers, forward calls of one
    DTF block). With checkpointing the block must run again in backward, and
    neither the gradients nor the statistics (counted once) may change.
    Returns the checkpointed run's buffers."""
    grads, buffers, calls = step(with_cp=False)
    cp_grads, cp_buffers, cp_calls = step(with_cp=True)
    assert (calls, cp_calls) == (1, 2)  # recomputed in backward
    assert grads.keys() == cp_grads.keys()
    for name, grad in grads.items():
        assert grad is not None, name
        torch.testing.assert_close(cp_grads[name], grad, rtol=1e-10,
                                   atol=1e-12, msg=name)
    dtf_grads = [g for n, g in grads.items() if '.dtf.' in n]
    assert sum(g.abs().sum() for g in dtf_grads) > 0
    # batch-norm statistics count the step once, not once per recomputation
    assert buffers and buffers.keys() == cp_buffers.keys()
    for name, value in buffers.items():
        torch.testing.assert_close(cp_buffers[name], value, msg=name)
    return cp_buffers


def record_accuracy_inputs(monkeypatch) -> List[list]:
    """Record what MMAction2's AccMetric evaluates: one list per evaluation
    of ``(scores, label)`` per video, to recompute the metric from."""
    from mmaction.evaluation import AccMetric
    evaluated = []
    compute_metrics = AccMetric.compute_metrics

    def recording(self, results):
        evaluated.append([(r['pred'].copy(), int(r['label']))
                          for r in results])
        return compute_metrics(self, results)

    monkeypatch.setattr(AccMetric, 'compute_metrics', recording)
    return evaluated


def record_head_inputs(model) -> List[tuple]:
    """Record what ``model.cls_head`` computes its training loss from:
    one ``(class scores, labels)`` per training step, to recompute the loss
    from."""
    head = model.cls_head
    recorded = []
    loss_by_feat = head.loss_by_feat

    def recording(cls_scores, data_samples):
        labels = torch.stack([s.gt_label.reshape(()) for s in data_samples])
        recorded.append((cls_scores.detach().clone(), labels))
        return loss_by_feat(cls_scores, data_samples)

    head.loss_by_feat = recording
    return recorded


def cross_entropy_of(recorded: tuple) -> float:
    """The mean cross entropy of ``(class scores, labels)``, recomputed."""
    scores, labels = recorded
    return torch.nn.functional.cross_entropy(scores.double(), labels).item()


def top1_of(scored: list) -> float:
    """Top-1 accuracy of ``[(scores, label), ...]``, recomputed."""
    return sum(int(scores.argmax()) == label
               for scores, label in scored) / len(scored)


def scored_from_dump(path: Path) -> list:
    """``[(scores, label), ...]`` from a ``test.py --dump`` pickle."""
    from mmengine.fileio import load
    return [(sample['pred_score'].numpy(), int(sample['gt_label']))
            for sample in load(str(path))]


CHARADES_HEADER = ('id,subject,scene,quality,relevance,verified,script,'
                   'objects,descriptions,actions,length\n')


def make_charades_like(root: Path):
    """Two Charades-style videos (24 JPEG frames, 6 s), their official-format
    CSV ``ann.csv`` and X3D-M-shaped fine features (stride 2) in ``fine/``."""
    import cv2
    import numpy as np
    rng = np.random.RandomState(0)
    rows = []
    for vid, actions in (('AAAAA', 'c001 0.0 2.0;c003 1.0 3.0'),
                         ('BBBBB', 'c002 0.5 1.5')):
        d = root / 'rgb' / vid
        d.mkdir(parents=True)
        for i in range(1, 25):  # 24 frames, 6 s at 4 fps
            cv2.imwrite(str(d / f'{vid}-{i:06d}.jpg'),
                        rng.randint(0, 255, (36, 48, 3), np.uint8))
        rows.append(f'{vid},S,Kitchen,6,7,Yes,script,obj,desc,{actions},6.0\n')
        (root / 'fine').mkdir(exist_ok=True)
        feats = {k: rng.randn(c, 12, 1, 1).astype(np.float16) for k, c in
                 (('layer1', 24), ('layer2', 48), ('layer3', 96),
                  ('layer4', 192), ('conv5', 432))}
        np.savez(root / 'fine' / f'{vid}.npz', stride=2, **feats)
    (root / 'ann.csv').write_text(CHARADES_HEADER + ''.join(rows))


def torchvision_state_dict(depth: int, seed: int = 0) -> dict:
    """A random 2D ResNet in torchvision's key format (conv1, bn1,
    layerX.Y.convN / bnN, downsample.0 / .1, fc), with non-trivial BN."""
    # here, not at the top: importing MMAction2's models needs mmdtf first
    # (its compat patches), which conftest.py provides
    from mmaction.models.backbones import ResNet
    from mmcv.cnn import ConvModule
    torch.manual_seed(seed)
    net = ResNet(depth, pretrained=None)
    net.init_weights()
    state = {}
    for name, module in net.named_modules():
        if not isinstance(module, ConvModule):
            continue
        if 'downsample' in name:
            conv_name, bn_name = f'{name}.0', f'{name}.1'
        else:
            conv_name, bn_name = name, name.replace('conv', 'bn')
        state[f'{conv_name}.weight'] = module.conv.weight.detach().clone()
        bn = module.bn
        c = bn.num_features
        state[f'{bn_name}.weight'] = torch.rand(c) + 0.5
        state[f'{bn_name}.bias'] = torch.randn(c) * 0.1
        state[f'{bn_name}.running_mean'] = torch.randn(c) * 0.1
        state[f'{bn_name}.running_var'] = torch.rand(c) + 0.5
        state[f'{bn_name}.num_batches_tracked'] = torch.tensor(100)
    feat = 512 * (4 if depth >= 50 else 1)
    state['fc.weight'] = torch.randn(1000, feat) * 0.01
    state['fc.bias'] = torch.zeros(1000)
    return state


def key_format_files(tmp_path) -> dict:
    """One random 2D ResNet-18 saved in each key format
    docs/user_guides/pretrained.md lists, written here by hand (no
    torchvision, timm or MMPretrain)."""
    state = torchvision_state_dict(18, seed=3)
    body = {k: v for k, v in state.items() if not k.startswith('fc.')}
    files = {
        'torchvision': state,  # resnet18-f37072fd.pth: a bare state dict
        'timm': state,  # pytorch_model.bin: the same names
        'timm-train': {'state_dict': {f'module.{k}': v  # DDP-trained
                                      for k, v in state.items()},
                       'epoch': 3},
        'mmpretrain': {'meta': {'mmpretrain_version': '1.2.0'},
                       'state_dict': {**{f'backbone.{k}': v
                                         for k, v in body.items()},
                                      'head.fc.weight': state['fc.weight'],
                                      'head.fc.bias': state['fc.bias']}},
    }
    paths = {}
    for key_format, content in files.items():
        paths[key_format] = tmp_path / f'{key_format}.pth'
        torch.save(content, paths[key_format])
    return paths
