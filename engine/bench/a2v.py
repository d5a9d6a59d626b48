"""``python main.py bench a2v``: persons per second of the A2V stage, ours vs an official-style baseline.

For N = 1, 5, 10 persons at 640×480 and 1280×720 (random image, random boxes and keypoints, random
weights: speed does not depend on the values) it times, end to end from BGR frame to numpy outputs:

- ``parity``: :class:`engine.a2v.api.A2V` in parity mode (trunk at the original resolution, all ROIs in one
  ``grid_sample``, layer4 and heads batched over persons);
- ``fast``: the same in fast mode (trunk at long side ``--fast-long-side``, default 512);
- ``baseline``: the same network run with the official forward's structure (engine.bench.a2v_baseline):
  unfolded trunk once per frame, one ``affine_grid`` + ``grid_sample`` per ROI (11 per person), then
  layer4, the pose-map CNNs and the heads once on the batch of all persons, in fp32.

Each cell is the median of ``--repeats`` timed runs after one warm-up run; the three take turns run by
run (rotating order), so load from other processes on a shared machine affects them alike. The parity and baseline
outputs are compared (max |Δ| of the PaSta probabilities) to show they compute the same thing.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import numpy as np


def _time_interleaved(fns: dict, repeats: int, clock=time.perf_counter) -> dict:
    """Median seconds per function; the functions take turns (rotating order) so that load from other
    processes on a shared machine hits all of them alike. One warm-up call each first. ``clock``:
    ``time.perf_counter`` (wall) or ``time.process_time`` (CPU seconds of this process, all threads)."""
    for fn in fns.values():
        fn()  # warm-up (allocators, kernels, first-call setup)
    samples = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = clock()
            fns[name]()
            samples[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (median; default 5)")
    parser.add_argument("--persons", default="1,5,10", help="person counts (default 1,5,10)")
    parser.add_argument("--sizes", default="640x480,1280x720", help="frame sizes WxH (default 640x480,1280x720)")
    parser.add_argument("--modes", default="baseline,parity,fast", help="what to time (default all three)")
    parser.add_argument("--fast-long-side", type=int, default=512, help="trunk long side in fast mode")
    parser.add_argument("--no-fp16", action="store_true", help="no fp16 autocast on CUDA for ours")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this process's CPU time, steadier on a shared CPU "
                             "(CPU only: GPU work is not counted)")
    parser.add_argument("--json", metavar="FILE", default="runs/bench/a2v.json",
                        help="where to write the numbers (default runs/bench/a2v.json; '' = none)")


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.a2v.api import A2V
    from engine.a2v.net import PastaNet
    from engine.bench.a2v_baseline import baseline_infer, synthetic_persons

    if args.threads:
        torch.set_num_threads(args.threads)
    from engine.device import describe_device, resolve_device

    device = resolve_device(args.device)
    counts = [int(x) for x in args.persons.split(",") if x.strip()]
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ("baseline", "parity", "fast")]
    if unknown:
        raise ValueError(f"--modes: unknown {unknown}; use baseline, parity, fast")

    torch.manual_seed(0)
    net = PastaNet().eval()
    language = np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32)
    parity = A2V(net, language, device=device, mode="parity", fast_long_side=args.fast_long_side,
                 fp16=not args.no_fp16)
    fast = copy.copy(parity)          # shares the net and its BN-folded runner; only the mode differs
    fast.mode = "fast"
    ours = {"parity": parity, "fast": fast}
    print(f"device: {describe_device(device)}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"median of {args.repeats} runs, {args.clock} clock (persons/s = N / median seconds)")
    header = f"{'size':>10}{'N':>4}" + "".join(f"{m + ' p/s':>16}" for m in modes)
    if "baseline" in modes:
        header += "".join(f"{m + '/base':>13}" for m in modes if m != "baseline")
    print(header)
    rows = []
    rng = np.random.default_rng(1)
    for width, height in sizes:
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        for n in counts:
            boxes, keypoints = synthetic_persons(n, width, height, seed=n)
            fns = {}
            for mode in modes:
                if mode == "baseline":
                    fns[mode] = lambda image=image, boxes=boxes, keypoints=keypoints: baseline_infer(
                        net, language, device, image, boxes, keypoints)
                else:
                    fns[mode] = lambda m=mode, image=image, boxes=boxes, keypoints=keypoints: ours[m].infer(
                        image, boxes, keypoints)
            seconds = _time_interleaved(fns, args.repeats,
                                        time.process_time if args.clock == "cpu" else time.perf_counter)
            row = {"size": f"{width}x{height}", "persons": n,
                   **{f"{m}_ms": 1000 * s for m, s in seconds.items()},
                   **{f"{m}_persons_per_s": n / s for m, s in seconds.items()}}
            line = f"{width}x{height:>4}{n:>4}" + "".join(f"{n / seconds[m]:>16.2f}" for m in modes)
            if "baseline" in modes:
                for m in modes:
                    if m != "baseline":
                        row[f"{m}_speedup"] = seconds["baseline"] / seconds[m]
                        line += f"{row[f'{m}_speedup']:>12.2f}x"
            print(line, flush=True)
            rows.append(row)
    check = {}
    if "baseline" in modes and "parity" in modes and sizes and counts:
        width, height = sizes[0]
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        boxes, keypoints = synthetic_persons(max(counts), width, height, seed=99)
        a = ours["parity"].infer(image, boxes, keypoints)
        b = baseline_infer(net, language, device, image, boxes, keypoints)
        check = {k: float(np.abs(a[k] - b[k]).max()) for k in ("pasta", "actions", "visual")}
        print("parity vs baseline, max |Δ|: " + ", ".join(f"{k} {v:.2e}" for k, v in check.items()))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"device": describe_device(device), "threads": torch.get_num_threads(),
                                    "clock": args.clock,
                                    "repeats": args.repeats, "rows": rows, "parity_vs_baseline": check},
                                   indent=2))
        print(f"wrote {path}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="a2v bench a2v", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
