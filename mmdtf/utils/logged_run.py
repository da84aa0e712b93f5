"""Run a long command (``mim train``, ``mim test``, a tool) from a tool: its
full output to a log file, one line of progress on the terminal.

The progress line follows MMEngine's log lines as they stream (epoch,
iteration, loss, eta; :mod:`mmdtf.utils.progress`). A failure exits with
the command's exit status, the log's path and its last lines.
"""
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

from .progress import ProgressLine, describe, parse_mmengine_line
from .quiet_warnings import PKG_RESOURCES_ENV


def logged_run(cmd: List[str], log: Path, cwd: Optional[Path] = None,
               env: Optional[Dict[str, str]] = None) -> str:
    """Run ``cmd`` in ``cwd`` with ``env`` added to the environment, its
    output to ``log``; return the output. Raises ``SystemExit`` naming the
    exit status and the log, with the log's last 40 lines, if it fails."""
    print('$', ' '.join(map(str, cmd)), flush=True)
    print(f'  full log: {log}', flush=True)  # progress: on stderr
    env = dict(os.environ, **(env or {}))
    # `mim` and MMEngine's config parsing warn before mmdtf is imported.
    env['PYTHONWARNINGS'] = ','.join(
        w for w in (env.get('PYTHONWARNINGS'), PKG_RESOURCES_ENV) if w)
    line = ProgressLine()
    lines = []
    with open(log, 'w') as f:
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env,
                                text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        for text in proc.stdout:
            f.write(text)
            f.flush()
            lines.append(text)
            info = parse_mmengine_line(text)
            if info is not None:
                line.update('  ' + describe(info))
        returncode = proc.wait()
    line.close()
    output = ''.join(lines)
    if returncode:
        tail = '\n'.join(output.splitlines()[-40:])
        raise SystemExit(f'command failed (exit {returncode}), log in '
                         f'{log}:\n{tail}')
    return output
