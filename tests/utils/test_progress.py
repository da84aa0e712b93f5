"""mmdtf.utils.progress: the line rewritten in place on a terminal, printed
at most every `interval` seconds elsewhere; `track` over a loop."""
import io

from mmdtf.utils.progress import ProgressLine, track


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
