"""mmdtf.utils.progress: MMEngine's log lines parsed and described; the
line rewritten in place on a terminal, printed at most every `interval`
seconds elsewhere; `track` over a loop."""
import io

from mmdtf.utils.progress import (ProgressLine, describe, parse_mmengine_line,
                                  track)

TRAIN = ('2026/11/30 10:27:46 - mmengine - INFO - Epoch(train)  [1][30/40]  '
         'lr: 2.3077e-03  eta: 4:14:57  time: 20.4985  data_time: 0.0515  '
         'grad_norm: 13.8030  loss: 1.7196  top1_acc: 0.5000  loss_cls: 1.7')
TEST = ('2026/11/30 11:02:01 - mmengine - INFO - Epoch(test) [ 40/240]    '
        'eta: 0:01:12  time: 0.3617  data_time: 0.0101  memory: 0')
VAL = 'x - mmengine - INFO - Epoch(val)  [25][ 5/10]    eta: 0:00:03'


def test_parse_mmengine_lines():
    assert parse_mmengine_line(TRAIN) == dict(
        mode='train', epoch=1, iter=30, total=40, eta='4:14:57',
        loss='1.7196')
    assert parse_mmengine_line(TEST) == dict(mode='test', epoch=None,
                                             iter=40, total=240,
                                             eta='0:01:12')
    assert parse_mmengine_line(VAL)['epoch'] == 25
    assert parse_mmengine_line('Checkpoints will be saved to x.') is None
    assert describe(parse_mmengine_line(TRAIN)) == (
        'train epoch 1, iter 30/40, loss 1.7196, eta 4:14:57')
    assert describe(parse_mmengine_line(TEST), 5) == 'test 40/240, eta 0:01:12'


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_rewrites_in_place_on_a_terminal():
    stream = Tty()
    line = ProgressLine(stream)
    line.update('a 1')
    line.update('a 2')
    line.close()
    text = stream.getvalue()
    assert text.count('\r') == 3 and text.endswith('\n')
    assert text.count('\n') == 1
    assert text.split('\r')[2].rstrip() == 'a 2'


def test_track_yields_all_and_reports():
    stream = io.StringIO()
    assert list(track(range(5), desc='videos', stream=stream)) == list(
        range(5))
    printed = stream.getvalue().splitlines()
    assert printed[0].startswith('videos 0/5 (')
    assert printed[-1].startswith('videos 5/5 (')
    assert len(printed) == 2  # off a terminal: first and last only


def test_track_with_label_names_the_item_being_processed():
    stream = Tty()
    items = list(track(['a', 'b'], desc='measuring', stream=stream,
                       label=str.upper))
    assert items == ['a', 'b']
    texts = [t.rstrip() for t in stream.getvalue().split('\r')[1:]]
    assert texts[0].startswith('measuring A (1/2, ')
    assert any(t.startswith('measuring B (2/2, ') for t in texts)
    assert texts[-1].startswith('measuring 2/2 (')
