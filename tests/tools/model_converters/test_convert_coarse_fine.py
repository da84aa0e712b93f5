"""tools/model_converters/convert_coarse_fine.py: a public checkpoint file
(DataParallel names, optimizer and MultiStepLR states beside the model) in,
an mmdtf checkpoint that loads strictly out."""
from collections import Counter

import torch
from mmaction.registry import MODELS

import helpers

FIXTURE = helpers.REPO / 'tests' / 'fixtures' / 'coarse_fine_public_x3d.pt'


def test_public_checkpoint_file_converts_and_loads(tmp_path, capsys):
    from models.weights.test_coarse_fine_weights import MODEL
    state = torch.load(FIXTURE, weights_only=True)['state_dict']
    src = tmp_path / 'coarse_fineFEAT_charades_000007.pt'
    # as train_coarse_fineFEAT.py saves it
    torch.save({'model_state_dict': {f'module.{k}': v.float()
                                     if v.is_floating_point() else v
                                     for k, v in state.items()},
                'optimizer_state_dict': {'state': {}, 'param_groups': [
                    {'lr': 0.02, 'momentum': 0.9, 'params': [0, 1]}]},
                'scheduler_state_dict': {'milestones': Counter([15, 25, 35]),
                                         'last_epoch': 3}}, src)
    dst = tmp_path / 'converted.pth'
    tool = helpers.load_tool('model_converters/convert_coarse_fine')
    tool.main([str(src), str(dst)])
    assert f'-> {dst}' in capsys.readouterr().out
    checkpoint = torch.load(dst, weights_only=True)
    model = MODELS.build(MODEL)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    assert checkpoint['meta']['converted_from'] == str(src)
