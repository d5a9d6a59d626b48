"""``python main.py bench a2v``: persons per second of the A2V stage, ours vs an official-style baseline.

For N = 1, 5, 10 persons at 640×480 and 1280×720 (random image, random boxes and keypoints, random
weights: speed does not depend on the values) it times, end to end from BGR frame to numpy outputs:

- ``parity``: :class:`engine.a2v.A2V` in parity mode (trunk at the original resolution, all ROIs in one
  ``grid_sample``, layer4 and heads batched over persons);
- ``fast``: the same in fast mode (trunk at long side ``--fast-long-side``, default 512);
- ``baseline``: the same network run the official way, kept here: trunk once per frame, then per person
  one ``affine_grid`` + ``grid_sample`` per ROI (11 per person), layer4 and the heads one person at a
  time, in fp32.

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
import torch

from engine.a2v import A2V
from engine.parts import clip_boxes, part_boxes, skeleton_maps
from engine.pasta_net import GROUP_PARTS, PastaNet, PastaOutput, preprocess
from engine.roi import roi_crop_official


def baseline_forward(net: PastaNet, images: torch.Tensor, human_boxes: torch.Tensor, parts: torch.Tensor,
                     skeletons: torch.Tensor) -> PastaOutput:
    """The official-style forward: one crop call per ROI, one person at a time through layer4 and heads."""
    head = net.image_to_head(images)
    scene = head.mean(dim=(2, 3))
    logits, verbs, visuals = [], [], []
    for i in range(human_boxes.shape[0]):
        human = net.resnet_layer4(roi_crop_official(head, human_boxes[i])).mean(dim=(2, 3))
        part_feats = [roi_crop_official(head, parts[i, j]).mean(dim=(2, 3)) for j in range(parts.shape[1])]
        skeleton = skeletons[i].reshape(1, 1, 64, 64)
        fc7s, person_logits = [], []
        for g, ids in enumerate(GROUP_PARTS):
            pose = net.pool2_flat_pose_maps[g](skeleton).reshape(1, -1)
            fc7 = net.fc7_parts[g](torch.cat([part_feats[j] for j in ids] + [human, scene, pose], dim=1))
            fc7s.append(fc7)
            person_logits.append(net.part_cls_scores[g](fc7))
        visual = torch.cat(fc7s, dim=1)
        visuals.append(visual)
        verbs.append(net.verb_cls_scores(visual))
        logits.append(person_logits)
    group_logits = [torch.cat([p[g] for p in logits]) for g in range(len(GROUP_PARTS))]
    return PastaOutput(group_logits=group_logits, verb_logits=torch.cat(verbs), visual=torch.cat(visuals))


def baseline_infer(net: PastaNet, language: np.ndarray, device: torch.device, image: np.ndarray,
                   boxes: np.ndarray, keypoints: np.ndarray) -> dict[str, np.ndarray]:
    height, width = image.shape[:2]
    parts = clip_boxes(part_boxes(keypoints, boxes), (width, height))
    skeletons = skeleton_maps(keypoints, (width, height))
    with torch.inference_mode():
        out = baseline_forward(net, preprocess(image, device), torch.from_numpy(boxes).to(device),
                               torch.from_numpy(parts).to(device), torch.from_numpy(skeletons).to(device))
        pasta = out.pasta_probs.cpu().numpy()
        actions = out.verb_probs.cpu().numpy()
        visual = out.visual.cpu().numpy()
    return {"pasta": pasta, "actions": actions, "visual": visual, "language": pasta @ language}


def synthetic_persons(n: int, width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) person boxes and (n, 17, 3) keypoints (confident, inside their boxes)."""
    rng = np.random.default_rng(seed)
    boxes = np.zeros((n, 4), np.float32)
    keypoints = np.zeros((n, 17, 3), np.float32)
    for i in range(n):
        bw = rng.uniform(0.1, 0.35) * width
        bh = rng.uniform(0.3, 0.9) * height
        x1 = rng.uniform(0, width - bw)
        y1 = rng.uniform(0, height - bh)
        boxes[i] = (x1, y1, x1 + bw, y1 + bh)
        keypoints[i, :, 0] = rng.uniform(x1, x1 + bw, 17)
        keypoints[i, :, 1] = np.sort(rng.uniform(y1, y1 + bh, 17))
        keypoints[i, :, 2] = rng.uniform(0.5, 1.0, 17)
    return boxes, keypoints


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="a2v bench a2v", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from engine.device import describe_device, resolve_device

    device = resolve_device(args.device)
    counts = [int(x) for x in args.persons.split(",") if x.strip()]
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in ("baseline", "parity", "fast")]
    if unknown:
        parser.error(f"--modes: unknown {unknown}; use baseline, parity, fast")

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
                    fns[mode] = lambda: baseline_infer(net, language, device, image, boxes, keypoints)  # noqa: E731
                else:
                    fns[mode] = lambda m=mode: ours[m].infer(image, boxes, keypoints)  # noqa: E731
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


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
