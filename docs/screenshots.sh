#!/usr/bin/env bash
# Regenerate the README's screenshots of the real window (X11 under Xvfb, not Qt's offscreen platform):
#   docs/gui_screenshot.png       the sample clip with no A2V weights (PaSta off, and the window says why)
#   docs/gui_random_weights.png   the same with a RANDOM-WEIGHT A2V checkpoint, only to show the populated
#                                 panel; its states and actions are meaningless (the file name, shown in the
#                                 window title and status bar, says so)
# Needs: xvfb-run (apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxkbcommon-x11-0
# libxcb-render-util0 libxcb-image0). Usage: docs/screenshots.sh   (PYTHON=/path/to/python to choose one)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
FRAMES=${FRAMES:-125}           # no weights: at 1× (real time), so the status bar shows the achieved rate
RANDOM_FRAMES=${RANDOM_FRAMES:-125} # random weights: at "max" (A2V on every frame), so every label is there
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export A2V_HOME="$work/home"   # an empty weights cache: "no weights" really has none
random_ckpt="$work/RANDOM-WEIGHTS-untrained-a2v.pt"
"$PYTHON" - "$random_ckpt" <<'PY'
import sys

import torch

from engine.a2v.net import PastaNet, save_checkpoint

torch.manual_seed(0)
save_checkpoint(PastaNet(), sys.argv[1], note="RANDOM WEIGHTS: untrained, for screenshots only")
PY
shoot() {  # shoot OUTPUT.png [gui options ...]
    local out=$1
    shift
    local try
    for try in 1 2; do  # a second try: a native crash (seen once in torch + mediapipe start-up) is no picture
        rm -f "$work/shot.png"
        xvfb-run -a -s "-screen 0 1920x1080x24" "$PYTHON" -X faulthandler main.py gui \
            --source assets/sample/bikes.mp4 --screenshot "$work/shot.png" --set device=cpu "$@" || true
        [ -s "$work/shot.png" ] && break
    done
    [ -s "$work/shot.png" ] || { echo "docs/screenshots.sh: no screenshot for $out" >&2; exit 1; }
    # Video frames compress badly as PNG: 256 colours keep the README light (< 400 KB a picture).
    "$PYTHON" - "$work/shot.png" "$out" <<'PY'
import sys

from PIL import Image

# (octree keeps the flat UI colours exact: the legend and the timeline rows)
Image.open(sys.argv[1]).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(sys.argv[2],
                                                                                            optimize=True)
PY
    echo "docs/screenshots.sh: wrote $out ($(du -k "$out" | cut -f1) KB)"
}
shoot docs/gui_screenshot.png --quit-after-frames "$FRAMES"
shoot docs/gui_random_weights.png --quit-after-frames "$RANDOM_FRAMES" --speed max \
    --set "a2v.checkpoint=$random_ckpt"
