"""mmdtf's C++ CPU kernels: each a source in ``ops/`` compiled on first use
into a shared library called through ``ctypes``.

A source is compiled with ``torch.utils.cpp_extension`` (a C++ compiler and
``ninja``; about a minute) into torch's extension directory
(``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), under a
name that keys everything the binary depends on: a hash of the source, the
flags, torch's and Python's versions and the machine, and the instruction
set it targets (``avx2`` where ATen runs AVX2 or AVX-512 kernels, else the
architecture's baseline; ``ATEN_CPU_CAPABILITY=default`` lowers it like
ATen's own). A build is therefore never loaded on a CPU that lacks its
instructions, and an edited source is rebuilt. Where it cannot be built (no
compiler), :meth:`CpuExtension.unavailable_reason` says why.
"""
import ctypes
import hashlib
import logging
import os
import platform
import re
import sys
import time
from typing import Callable, List, Optional, Tuple

import torch

_BASE_FLAGS = ['-O3', '-fopenmp']


class KernelUnavailable(RuntimeError):
    """A C++ kernel cannot be built or loaded here."""


def target_isa() -> Tuple[str, List[str]]:
    """The instruction set a build targets and its compiler flags.

    AVX2 + FMA where ATen itself runs AVX2 or AVX-512 kernels (its
    capability follows the CPU and ``ATEN_CPU_CAPABILITY``); otherwise the
    architecture's baseline, which every CPU of it runs. Never
    ``-march=native``: a shared cache would hand its binary to other CPUs.
    """
    if platform.machine().lower() in ('x86_64', 'amd64') and \
            torch.backends.cpu.get_cpu_capability() in ('AVX2', 'AVX512'):
        return 'avx2', ['-mavx2', '-mfma']
    return 'baseline', []


def build_name(prefix: str, source: bytes, isa: str,
               flags: List[str]) -> str:
    """An extension's name: everything its binary depends on, hashed."""
    key = '\n'.join([
        hashlib.sha256(source).hexdigest(), ' '.join(flags), torch.__version__,
        sys.version, platform.machine(), isa])
    return f'{prefix}_{isa}_{hashlib.sha256(key.encode()).hexdigest()[:16]}'


class CpuExtension:
    """One source's library, built and loaded on first use (tried once per
    process).

    Args:
        source_name: the file in ``ops/``.
        prefix: the start of the build's name.
        owner, what: how log lines name it: ``'{owner}: compiling {what}
            ...'``, e.g. ``'frame_aggregation'``, ``'its fused CPU kernel'``.
        declare: sets the library's ``argtypes`` / ``restype``.
    """

    def __init__(self, source_name: str, prefix: str, owner: str, what: str,
                 declare: Callable[[ctypes.CDLL], None]) -> None:
        self.source_name, self.prefix = source_name, prefix
        self.owner, self.what = owner, what
        self.declare = declare
        # the loaded library, or why it could not be loaded
        self.state: dict = {}

    def source_path(self):
        from mmdtf.utils.resources import resource_dir
        return resource_dir('ops') / self.source_name

    def library(self) -> ctypes.CDLL:
        """The loaded library; :class:`KernelUnavailable` (with the reason)
        where building or loading it fails."""
        if 'library' in self.state:
            return self.state['library']
        if 'error' not in self.state:
            try:
                lib = ctypes.CDLL(self._build())
            except Exception as e:  # whatever fails, the PyTorch path remains
                self.state['error'] = _describe(e)
            else:
                self.declare(lib)
                self.state['library'] = lib
                return lib
        raise KernelUnavailable(self.state['error'])

    def unavailable_reason(self) -> Optional[str]:
        """None if the library loads here, else why not."""
        try:
            self.library()
        except KernelUnavailable as e:
            return str(e)
        return None

    def _build(self) -> str:
        """Compile (or find the cached build of) the source; its path."""
        from mmengine.logging import print_log
        from torch.utils import cpp_extension

        path = self.source_path()
        isa, isa_flags = target_isa()
        flags = _BASE_FLAGS + isa_flags
        name = build_name(self.prefix, path.read_bytes(), isa, flags)
        try:  # torch's own choice (TORCH_EXTENSIONS_DIR, else its cache)
            directory = cpp_extension._get_build_directory(name,
                                                           verbose=False)
        except AttributeError:  # a torch without that helper: its default
            directory = None
        if directory is None or not os.path.exists(
                os.path.join(directory, name + '.so')):
            print_log(f'{self.owner}: compiling {self.what} ({isa}) into '
                      f'{directory or "torch_extensions"}, once (about a '
                      'minute)', logger='current', level=logging.INFO)
        start = time.time()
        _with_ninja_on_path()
        built = cpp_extension.load(
            name=name, sources=[_source_in(directory, name, path)],
            extra_cflags=flags, extra_ldflags=['-fopenmp'],
            build_directory=directory, is_python_module=False,
            verbose=False)
        if time.time() - start > 1:
            print_log(f'{self.owner}: {self.what} built in '
                      f'{time.time() - start:.0f} s', logger='current',
                      level=logging.INFO)
        return built


def _source_in(directory: Optional[str], name: str, path) -> str:
    """The source, copied once into the build directory under the build's
    name: ninja rebuilds when a source's path changes, and the same source
    is found at another path from each checkout (and each copy the mutation
    check makes)."""
    if directory is None:
        return str(path)
    copy = os.path.join(directory, name + '.cpp')
    if not os.path.exists(copy):
        temporary = f'{copy}.{os.getpid()}.tmp'
        with open(temporary, 'wb') as f:
            f.write(path.read_bytes())
        os.replace(temporary, copy)  # whole, even with builds side by side
    return copy


def _with_ninja_on_path() -> None:
    """cpp_extension runs ``ninja`` from PATH; a virtual environment that is
    not activated has the pip package's binary elsewhere."""
    try:
        import ninja
    except ImportError:
        return
    bin_dir = getattr(ninja, 'BIN_DIR', None)
    paths = os.environ.get('PATH', '').split(os.pathsep)
    if bin_dir and bin_dir not in paths:
        os.environ['PATH'] = os.pathsep.join([bin_dir] + paths)


def _describe(error: BaseException) -> str:
    """What a build failure comes down to: the compiler's or the shell's
    error lines where there are some (not the command lines)."""
    lines = [line.strip() for line in str(error).splitlines()
             if line.strip()]
    causes = [line for line in lines if re.search(
        r'not found|error:|no such file|fatal|cannot|permission denied',
        line, re.IGNORECASE) and not line.startswith(('[', 'FAILED'))]
    text = ' | '.join(causes[-2:]) or (lines[0] if lines else '')
    return f'{type(error).__name__}: {text[:400]}'
