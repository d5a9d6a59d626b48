"""``python main.py export onnx OUT.onnx [--dynamic] [--fp16] [--size WxH] [--checkpoint NAME|PATH]``.

Writes the A2V network (BN-folded trunk + ROI features + PaSta/verb heads, dynamic number of persons;
see :mod:`engine.a2v.onnx_export` for the inputs and outputs) and checks the file: ONNX Runtime on random
inputs against the PyTorch model, max |Δ| printed (fp32 within the parity tolerances: probabilities 1e-4,
visual 1e-3). The pipeline does not need this file: ``a2v.runtime`` auto / onnx / openvino export the graph
once per weights into the weights cache (engine.a2v.runtime). Run a file you wrote from code with
``A2V(..., runtime="onnx" or "openvino", onnx_model=OUT.onnx)``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

PARITY_TOLERANCE = {"pasta": 1e-4, "actions": 1e-4, "visual": 1e-3}


def _cmd_onnx(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from engine.a2v.net import CheckpointError, PastaNet
    from engine.a2v.onnx_export import OnnxA2VRunner, export_onnx
    from engine.bench.common import parse_size
    from engine.weights.store import WeightsError, locate

    try:
        width, height = parse_size(args.size)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None
    net = PastaNet().eval()
    if args.random_weights:
        torch.manual_seed(0)
    else:
        try:
            net.load_checkpoint(locate(args.checkpoint))
        except (WeightsError, CheckpointError) as exc:
            raise ValueError(f"--checkpoint {args.checkpoint}: {exc}") from None
    out = export_onnx(net, args.output, size=(width, height), dynamic=args.dynamic, fp16=args.fp16)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB; {'dynamic' if args.dynamic else f'{width}x{height}'}"
          f" images, dynamic persons{', fp16' if args.fp16 else ''})")
    if args.no_check:
        return 0
    # Check: ONNX Runtime vs PyTorch on random inputs at the export size, 3 persons.
    if args.fp16:
        try:
            runner = OnnxA2VRunner(out, "cuda" if torch.cuda.is_available() else "cpu")
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            print(f"check skipped: this onnxruntime cannot run the fp16 graph here ({type(exc).__name__})")
            return 0
    else:
        runner = OnnxA2VRunner(out, "cpu")
    rng = np.random.default_rng(0)
    n = 3
    image = torch.from_numpy(rng.normal(0, 50, (1, 3, height, width)).astype(np.float32))
    xy = rng.uniform(0, 1, (n, 2)) * (width * 0.6, height * 0.5)
    human = torch.from_numpy(np.concatenate([xy, xy + (width * 0.3, height * 0.45)], 1).astype(np.float32))
    parts = human[:, None].repeat(1, 10, 1) * torch.from_numpy(rng.uniform(0.9, 1.1, (n, 10, 4)).astype(np.float32))
    skeletons = torch.from_numpy(rng.uniform(0, 1, (n, 1, 64, 64)).astype(np.float32))
    with torch.no_grad():
        ref = net(image, human, parts, skeletons)
    got = runner(image, human, parts, skeletons)
    expected = {"pasta": ref.pasta_probs, "actions": ref.verb_probs, "visual": ref.visual}
    deltas = {k: float(np.abs(got[k] - expected[k].numpy()).max()) for k in expected}
    print("ONNX Runtime vs PyTorch, max |Δ|: " + ", ".join(f"{k} {v:.1e}" for k, v in deltas.items()))
    if not args.fp16:
        bad = [k for k, v in deltas.items() if v > PARITY_TOLERANCE[k]]
        if bad:
            raise RuntimeError(f"exported model differs from PyTorch beyond the parity tolerances in {bad}; "
                               f"report this with your torch and onnxruntime versions")
    return 0


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export the A2V network (onnx)", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = sub.add_parser("onnx", help="ONNX graph for ONNX Runtime (CPU / CUDA)", description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    onnx.add_argument("output", type=Path, metavar="OUT.onnx", help="file to write")
    onnx.add_argument("--dynamic", action="store_true", help="any image size (default: fixed --size)")
    onnx.add_argument("--fp16", action="store_true", help="float16 weights and activations (for CUDA)")
    onnx.add_argument("--size", default="1280x720", help="image size WxH (fixed, or traced at with --dynamic)")
    onnx.add_argument("--checkpoint", default="a2v_v1", help="registered weights name or checkpoint path")
    onnx.add_argument("--random-weights", action="store_true", help="random weights (tests, speed checks)")
    onnx.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch check")
    onnx.set_defaults(func=_cmd_onnx)
