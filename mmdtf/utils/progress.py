"""One updating line of progress for long-running tools.

On a terminal the line is rewritten in place (``\\r``); in a log file or a
pipe (CI) it is printed at most every ``interval`` seconds, so a long run
leaves a few dozen lines, not thousands. Used by every tool in ``tools/``
that runs for more than a few seconds: :func:`track` wraps a loop,
:class:`ProgressLine` takes any text (:mod:`mmdtf.utils.logged_run` feeds
it MMEngine's log lines via :func:`parse_mmengine_line`), and a Runner in the
tool's own process registers :class:`~mmdtf.engine.hooks.ProgressHook`
(``custom_hooks=[dict(type='ProgressHook', desc=...)]``, or
:func:`runner_progress_hook`). All of them say it in :func:`describe`'s
words where they show an MMEngine run.
"""
import re
import shutil
import sys
import time
from typing import Callable, Iterable, Iterator, Optional, TextIO, TypeVar

T = TypeVar('T')

# MMEngine's LoggerHook lines, e.g.
# "Epoch(train)  [3][ 5/10]  lr: 2.9e-03  eta: 0:36:10  time: 38.2 ...
#  loss: 1.0863 ..." and "Epoch(test) [ 40/240]    eta: 0:01:12 ...".
_MMENGINE_LINE = re.compile(
    r'Epoch\((?P<mode>train|val|test)\)\s*(?:\[(?P<epoch>\d+)\])?'
    r'\s*\[\s*(?P<iter>\d+)/(?P<total>\d+)\]')
_FIELD = re.compile(r'\b(eta|loss):\s*(\S+)')


def parse_mmengine_line(line: str) -> Optional[dict]:
    """``mode``, ``epoch`` (None outside training), ``iter``, ``total`` and,
    when logged, ``loss`` and ``eta`` of one MMEngine log line; None for any
    other line."""
    match = _MMENGINE_LINE.search(line)
    if match is None:
        return None
    info = dict(mode=match['mode'],
                epoch=int(match['epoch']) if match['epoch'] else None,
                iter=int(match['iter']), total=int(match['total']))
    for key, value in _FIELD.findall(line[match.end():]):
        info.setdefault(key, value)
    return info


def describe(info: dict, max_epochs: Optional[int] = None) -> str:
    """A short progress text for :func:`parse_mmengine_line`'s result."""
    if info['epoch'] is not None:
        epochs = f'/{max_epochs}' if max_epochs else ''
        text = (f"{info['mode']} epoch {info['epoch']}{epochs}, iter "
                f"{info['iter']}/{info['total']}")
    else:
        text = f"{info['mode']} {info['iter']}/{info['total']}"
    if 'loss' in info:
        text += f", loss {info['loss']}"
    if 'eta' in info:
        text += f", eta {info['eta']}"
    return text


class ProgressLine:
    """A line of progress text, updated in place on a terminal.

    Args:
        stream: where to write (default ``sys.stderr``, as progress bars
            do: a tool's results on stdout stay clean).
        interval: off a terminal, print at most once per this many seconds
            (the final :meth:`close` text is always printed).
    """

    def __init__(self, stream: Optional[TextIO] = None,
                 interval: float = 30.) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.live = bool(getattr(self.stream, 'isatty', lambda: False)())
        self._last = ''
        self._printed_at = -float('inf')

    def update(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        if self.live:
            self._rewrite(text)
        elif time.monotonic() - self._printed_at >= self.interval:
            self._print(text)

    def _rewrite(self, text: str) -> None:
        width = shutil.get_terminal_size().columns - 1
        self.stream.write('\r' + text[:width].ljust(width))
        self.stream.flush()

    def _print(self, text: str) -> None:
        self.stream.write(text + '\n')
        self.stream.flush()
        self._printed_at = time.monotonic()

    def close(self, text: Optional[str] = None) -> None:
        """End the line, with ``text`` (default: the last update)."""
        text = self._last if text is None else text
        if self.live:
            self._rewrite(text)
            self.stream.write('\n')
            self.stream.flush()
        elif text:
            self._print(text)
        self._last = ''


def track(items: Iterable[T], total: Optional[int] = None,
          desc: str = '', stream: Optional[TextIO] = None,
          interval: float = 30.,
          label: Optional[Callable[[T], str]] = None) -> Iterator[T]:
    """Yield ``items`` while showing ``desc i/total, elapsed, eta``.

    With ``label``, the line names the item being processed, e.g.
    ``measuring DTF-Net R50 infer (3/8, 40 s, eta 67 s)``: for loops whose
    items take long (benchmarks)."""
    if total is None and hasattr(items, '__len__'):
        total = len(items)
    line = ProgressLine(stream, interval)
    start = time.monotonic()
    done = 0

    def eta(elapsed: float) -> str:
        if total and 0 < done < total:
            return f', eta {elapsed / done * (total - done):.0f} s'
        return ''

    def text() -> str:
        elapsed = time.monotonic() - start
        return (f'{desc} {done}/{total or "?"} ({elapsed:.0f} s'
                f'{eta(elapsed)})')

    def text_of(item: T) -> str:
        elapsed = time.monotonic() - start
        return (f'{desc} {label(item)} ({done + 1}/{total or "?"}, '
                f'{elapsed:.0f} s{eta(elapsed)})')

    if label is None:  # else the first item's label is the first line
        line.update(text())
    for item in items:
        if label is not None:
            line.update(text_of(item))
        yield item
        done += 1
        line.update(text())
    line.close(text())


def runner_progress_hook(desc: str = '', stream: Optional[TextIO] = None,
                         interval: float = 30.):
    """:class:`~mmdtf.engine.hooks.ProgressHook` for a Runner run in a
    tool's own process, built through MMAction2's ``HOOKS`` registry as a
    config's ``custom_hooks`` entry would be (this module stays below the
    engine: it imports none of it)."""
    from mmaction.registry import HOOKS
    return HOOKS.build(dict(type='ProgressHook', desc=desc, stream=stream,
                            interval=interval))
