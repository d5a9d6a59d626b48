"""Item 11 investigation (not a test): RSS after each of N open/run/close cycles of a real pipeline, which is
what the GUI does per opened file. Usage::

    python tests/reliability/memory_cycles.py ROOT CYCLES [SOURCE] [--arena-max N]

With glibc's default arenas RSS creeps up per cycle (each pipeline's new threads get fresh malloc arenas);
with ``--arena-max 2`` (``mallopt(M_ARENA_MAX, 2)``, or ``MALLOC_ARENA_MAX=2`` in the environment) it stays
flat: the growth is heap fragmentation, not objects kept alive.
"""
import ctypes
import gc
import sys

sys.path.insert(0, sys.argv[1])

from engine.bench.common import rss_mb  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.io.sources import open_source  # noqa: E402
from engine.pipeline import Pipeline  # noqa: E402
from engine.stages import build_stages  # noqa: E402

M_ARENA_MAX = -8

args = [a for a in sys.argv[2:] if not a.startswith("--arena-max")]
if any(a.startswith("--arena-max") for a in sys.argv):
    ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, int(sys.argv[sys.argv.index("--arena-max") + 1]))
    args = [a for a in args if not a.isdigit() or a != sys.argv[sys.argv.index("--arena-max") + 1]]
cycles = int(args[0])
clip = args[1] if len(args) > 1 else f"{sys.argv[1]}/assets/sample/bikes.mp4"
config = load_config()
rss = []
for _ in range(cycles):
    source = open_source(clip, config.source)
    pipe = Pipeline(source, build_stages(config), config=config, render="default", max_frames=15)
    pipe.run()
    del pipe, source
    gc.collect()
    rss.append(round(rss_mb()))
print("rss per cycle MiB:", rss)
