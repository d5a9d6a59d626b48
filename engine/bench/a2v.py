"""``python main.py bench a2v``: persons per second of the A2V stage, ours vs the official forward's structure.

For N = 1, 5, 10 persons at 640×480 and 1280×720 (random image, random boxes and keypoints; random weights
unless ``--checkpoint``: speed does not depend on the values) it times, end to end from BGR frame to numpy
outputs:

- ``baseline``: the network run with the official forward's structure (engine.bench.a2v_baseline):
  unfolded trunk once per frame, one ``affine_grid`` + ``grid_sample`` per ROI (11 per person), then
  layer4, the pose-map CNNs and the heads once on the batch of all persons, in fp32;
- ``parity``: :class:`engine.a2v.api.A2V` in parity mode (trunk at the original resolution, BN folded,
  channels-last, all ROIs in one ``grid_sample``);
- ``parity_onnx``: the same network exported to ONNX and run by ONNX Runtime (``a2v.runtime: onnx``);
- ``parity_openvino``: the same exported graph run by OpenVINO on the CPU in float32
  (``a2v.runtime: openvino``; what ``auto`` picks on a CPU when openvino is installed);
- ``fast`` / ``fast_onnx`` / ``fast_openvino``: fast mode (trunk at long side ``--fast-long-side``, default
  512), each runtime.

The graph runtimes load the exported graph from the on-disk cache (engine.a2v.runtime); the first run
after a change of weights or code exports it (printed: export or cache hit, and the seconds).

Each cell is the median of ``--repeats`` timed runs after one warm-up run; the modes take turns run by
run (rotating order), so load from other processes on a shared machine affects them alike. The parity
modes' outputs are compared with the baseline's (max |Δ|) to show they compute the same thing.

``--compare-fast``: how far fast mode's outputs are from parity's, on frames of the sample clip (persons
from the pose backend of the config; synthetic persons if it finds none) at their own size and resized to
each ``--sizes``: median, p90 and max of |Δp_pasta| over all PaSta probabilities, and the share of persons
whose top-1 state agrees in each body-part group and whose top action agrees. Use ``--checkpoint a2v_v1``
for numbers that mean something (random weights give near-0.5 probabilities).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np

from engine.bench.common import add_json_argument, json_output


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


GRAPH_RUNTIMES = ("onnx", "openvino")
ALL_MODES = ("baseline", "parity", "parity_onnx", "parity_openvino", "fast", "fast_onnx", "fast_openvino")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (median; default 5)")
    parser.add_argument("--persons", default="1,5,10", help="person counts (default 1,5,10)")
    parser.add_argument("--sizes", default="640x480,1280x720", help="frame sizes WxH (default 640x480,1280x720)")
    parser.add_argument("--modes", default=",".join(ALL_MODES),
                        help=f"what to time (default all: {', '.join(ALL_MODES)}; '' = none)")
    parser.add_argument("--fast-long-side", type=int, default=512, help="trunk long side in fast mode")
    parser.add_argument("--no-fp16", action="store_true", help="no fp16 autocast on CUDA for ours")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this process's CPU time, steadier on a shared CPU "
                             "(CPU only: GPU work is not counted)")
    add_json_argument(parser, default="runs/bench/a2v.json")
    parser.add_argument("--checkpoint", default="", help="A2V weights (name or path; default: random weights)")
    parser.add_argument("--compare-fast", action="store_true",
                        help="also measure how far fast-mode outputs are from parity (module docstring)")
    parser.add_argument("--compare-frames", type=int, default=6, help="sample-clip frames for --compare-fast")


def _parse(args: argparse.Namespace) -> tuple[list[int], list[tuple[int, int]], list[str]]:
    from engine.bench.common import parse_size

    try:
        counts = [int(x) for x in args.persons.split(",") if x.strip()]
        sizes = [parse_size(s.strip()) for s in args.sizes.split(",") if s.strip()]
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise ValueError(f"--persons {args.persons!r} / --sizes {args.sizes!r}: {exc}") from None
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ALL_MODES]
    if unknown:
        raise ValueError(f"--modes: unknown {unknown}; use {', '.join(ALL_MODES)}")
    return counts, sizes, modes


def compare_fast(parity, fast, samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """Fast vs parity over ``samples`` [(image, boxes (N, 4), keypoints (N, 17, 3))]: |Δp_pasta| median,
    p90, max (over every probability of every person), top-1 agreement per group and of the top action."""
    from engine.a2v.net import GROUP_SIZES, GROUPS

    deltas, agree, action_agree, persons = [], {g: 0 for g in GROUPS}, 0, 0
    bounds = np.cumsum((0,) + GROUP_SIZES)
    for image, boxes, keypoints in samples:
        if len(boxes) == 0:
            continue
        a = parity.infer(image, boxes, keypoints)
        b = fast.infer(image, boxes, keypoints)
        deltas.append(np.abs(a["pasta"] - b["pasta"]).ravel())
        for g, name in enumerate(GROUPS):
            lo, hi = bounds[g], bounds[g + 1]
            agree[name] += int((a["pasta"][:, lo:hi].argmax(1) == b["pasta"][:, lo:hi].argmax(1)).sum())
        action_agree += int((a["actions"].argmax(1) == b["actions"].argmax(1)).sum())
        persons += len(boxes)
    if not persons:
        return {"persons": 0}
    d = np.concatenate(deltas)
    return {"persons": persons, "median_abs_dpasta": float(np.median(d)), "p90_abs_dpasta": float(np.percentile(d, 90)),
            "max_abs_dpasta": float(d.max()), "top1_agreement": {g: agree[g] / persons for g in GROUPS},
            "top_action_agreement": action_agree / persons}


def _clip_samples(frames: int, config_device: str) -> tuple[list, str]:
    """Frames of the sample clip with persons from the default pose backend: [(image, boxes, keypoints)]."""
    from engine.config import load_config
    from engine.io.sources import open_source
    from engine.paths import SAMPLE_CLIP
    from engine.stages.pose import PoseStage
    from engine.types import FrameResult

    config = load_config(None, [f"device={config_device}"])
    pose = PoseStage(config)
    samples = []
    source = open_source(str(SAMPLE_CLIP), config.source)
    try:
        # Spread over the clip, denser than ``frames`` since some frames have nobody in view.
        step = max(1, (source.frame_count or frames) // max(1, 3 * frames))
        for frame in source:
            if frame.index % step:
                continue
            result = FrameResult(index=frame.index, timestamp=frame.timestamp,
                                 image_size=(frame.image.shape[1], frame.image.shape[0]))
            pose(frame.image, result)
            if result.persons:
                samples.append((frame.image, np.stack([p.box for p in result.persons]).astype(np.float32),
                                np.stack([p.keypoints for p in result.persons]).astype(np.float32)))
            if len(samples) >= frames:
                break
    finally:
        source.close()
        pose.close()
    return samples, pose.describe()


def _resized(samples: list, size: tuple[int, int]) -> list:
    from engine.cvcompat import cv2

    out = []
    for image, boxes, keypoints in samples:
        h, w = image.shape[:2]
        sx, sy = size[0] / w, size[1] / h
        kp = keypoints.copy()
        kp[..., 0] *= sx
        kp[..., 1] *= sy
        out.append((cv2.resize(image, size, interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR),
                    (boxes * np.array([sx, sy, sx, sy], np.float32)).astype(np.float32), kp))
    return out


def run(args: argparse.Namespace) -> int:
    """The benchmark; ``--json FILE`` as everywhere (:mod:`engine.bench.common`)."""
    with json_output(args.json) as emit:
        return _measure(args, emit)


def _measure(args: argparse.Namespace, emit) -> int:
    import os

    import torch

    from engine.a2v.api import A2V
    from engine.a2v.net import PastaNet
    from engine.bench.a2v_baseline import baseline_infer, synthetic_persons

    if args.threads:
        torch.set_num_threads(args.threads)
    from engine.device import describe_device, resolve_device

    device = resolve_device(args.device)
    counts, sizes, modes = _parse(args)

    torch.manual_seed(0)
    net = PastaNet().eval()
    weights = "random weights"
    if args.checkpoint:
        from engine.weights.store import locate

        net.load_checkpoint(locate(args.checkpoint))
        weights = args.checkpoint
    language = np.random.default_rng(0).standard_normal((93, 1536)).astype(np.float32)
    kwargs = dict(device=device, fast_long_side=args.fast_long_side, fp16=not args.no_fp16)
    parity = A2V(net, language, mode="parity", runtime="torch", **kwargs)
    fast = copy.copy(parity)          # shares the net and its BN-folded runner; only the mode differs
    fast.mode = "fast"
    ours = {"parity": parity, "fast": fast}
    for runtime in GRAPH_RUNTIMES:
        if not any(m.endswith("_" + runtime) for m in modes):
            continue
        import importlib.util

        package = "onnxruntime" if runtime == "onnx" else "openvino"
        why = (f"{package} is not installed" if importlib.util.find_spec(package) is None else
               "OpenVINO runs on the CPU only" if runtime == "openvino" and device.type != "cpu" else "")
        if why:
            print(f"skipping the {runtime} modes: {why}")
            modes = [m for m in modes if not m.endswith("_" + runtime)]
            continue
        start = time.perf_counter()
        model = ours["parity_" + runtime] = A2V(net, language, mode="parity", runtime=runtime, **kwargs)
        print(f"{model.onnx.label}: {'export' if model.onnx.exported else 'cached graph'} + session "
              f"{time.perf_counter() - start:.1f} s ({model.onnx.graph_path.name})")
        ours["fast_" + runtime] = copy.copy(model)
        ours["fast_" + runtime].mode = "fast"
    from engine.a2v.runtime import resolve_runtime

    auto, why = resolve_runtime("auto", device)
    print(f"a2v.runtime auto (the default) runs {auto} here ({why}): the parity{'' if auto == 'torch' else '_' + auto}"
          f" and fast{'' if auto == 'torch' else '_' + auto} rows are what users get")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device: {describe_device(device)}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"{weights}; median of {args.repeats} runs, {args.clock} clock (persons/s = N / median seconds); "
          f"load average {load:.2f}")
    rows = []
    if modes:
        header = f"{'size':>10}{'N':>4}" + "".join(f"{m + ' p/s':>21}" for m in modes)
        if "baseline" in modes:
            header += "".join(f"{m + '/base':>21}" for m in modes if m != "baseline")
        print(header)
    rng = np.random.default_rng(1)
    for width, height in sizes if modes else []:
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
                   "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                   **{f"{m}_ms": 1000 * s for m, s in seconds.items()},
                   **{f"{m}_persons_per_s": n / s for m, s in seconds.items()}}
            line = f"{width}x{height:>4}{n:>4}" + "".join(f"{n / seconds[m]:>21.2f}" for m in modes)
            if "baseline" in modes:
                for m in modes:
                    if m != "baseline":
                        row[f"{m}_speedup"] = seconds["baseline"] / seconds[m]
                        line += f"{row[f'{m}_speedup']:>20.2f}x"
            print(line, flush=True)
            rows.append(row)
    check = {}
    if "baseline" in modes and sizes and counts:
        width, height = sizes[0]
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        boxes, keypoints = synthetic_persons(max(counts), width, height, seed=99)
        b = baseline_infer(net, language, device, image, boxes, keypoints)
        for m in ("parity", "parity_onnx", "parity_openvino"):
            if m in modes:
                a = ours[m].infer(image, boxes, keypoints)
                check[m] = {k: float(np.abs(a[k] - b[k]).max()) for k in ("pasta", "actions", "visual")}
                print(f"{m} vs baseline, max |Δ|: " + ", ".join(f"{k} {v:.2e}" for k, v in check[m].items()))
    fast_report = {}
    if args.compare_fast:
        samples, pose_used = _clip_samples(args.compare_frames, "cpu")
        source = f"sample clip ({pose_used})"
        if not samples:
            image = rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8)
            samples = [(image, *synthetic_persons(5, 1280, 720, seed=7))]
            source = "synthetic persons (the pose backend found none in the sample clip)"
        native = samples[0][0].shape[1::-1]
        sets = {f"{native[0]}x{native[1]} (clip)": samples}
        sets.update({f"{w}x{h}": _resized(samples, (w, h)) for w, h in sizes if (w, h) != tuple(native)})
        print(f"fast (long side {args.fast_long_side}) vs parity on {len(samples)} frames, {source}; {weights}")
        print(f"{'size':>18}{'persons':>8}{'med|Δp|':>10}{'p90|Δp|':>10}{'max|Δp|':>10}  top-1 agreement "
              f"foot leg hip hand arm head | action")
        for name, group in sets.items():
            r = compare_fast(parity, fast, group)
            fast_report[name] = r
            if r["persons"]:
                agree = " ".join(f"{v:.2f}" for v in r["top1_agreement"].values())
                print(f"{name:>18}{r['persons']:>8}{r['median_abs_dpasta']:>10.4f}{r['p90_abs_dpasta']:>10.4f}"
                      f"{r['max_abs_dpasta']:>10.4f}  {agree} | {r['top_action_agreement']:.2f}", flush=True)
        fast_report = {"source": source, "weights": weights, "fast_long_side": args.fast_long_side,
                       "sizes": fast_report}
    emit({"device": describe_device(device), "threads": torch.get_num_threads(), "clock": args.clock,
          "auto_runtime": auto,
          "weights": weights, "repeats": args.repeats, "rows": rows, "vs_baseline_max_abs": check,
          "fast_vs_parity": fast_report})
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="a2v bench a2v", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    from engine.cli.common import run_command

    return run_command(run, parser.parse_args(argv))


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
