"""``python main.py train``: retrain A2V heads on HAKE-format data, on one or many GPUs/CPUs.

    python main.py train --config configs/train/foot.yaml [--set train.lr=1e-4 ...]
    torchrun --nproc_per_node 4 main.py train --config ...            # multi-GPU (NCCL) / multi-CPU (Gloo)
    torchrun --nnodes 2 --node_rank R --master_addr HOST ... main.py train --config ...   # multi-node

Under torchrun, ``train.batch_images`` is the global batch (a multiple of the process count); every node
must see the data, the images and ``train.output_dir`` (only global rank 0 writes; all read on resume).

What it does (docs/hake_facts.md §6):

- the trunk (ResNet-50 to conv4 and the human layer4) is frozen with BatchNorm in eval mode; only the
  chosen ``train.modules`` (any of foot, leg, hip, hand, arm, head: fc7 + classifier + skeleton CNN of
  the group; verb: the action layer) get gradients;
- per image: every annotated person + at most ``humans_per_image - 1`` random negatives (no_interaction
  everywhere); training images are scaled down to ``data.max_side`` (official 512);
- loss per image = sum over modules of mean over (persons x classes) of ``w_c * BCEWithLogits``; the
  batch loss is the mean over the ``train.batch_images`` images of one iteration (over all processes);
- class weights ``w_c``: from ``data.loss_weights`` (official ``loss_weights.npy``) or, when empty,
  from the training labels: ``w_c = log(1 + N / max(n_c, 1))`` with N persons and n_c positives of
  class c, divided by the module's mean so the weights average 1 (rare classes weigh more);
- SGD with momentum; ``constant`` or ``cosine`` (CosineAnnealingWarmRestarts, T_0 = cosine_t0_epochs
  epochs, T_mult, stepped every iteration);
- every random choice (image order, negatives, dropout) is derived from (seed, epoch/iteration, image),
  so one process and N processes on the same global batch compute the same updates, and a resumed run
  continues exactly where it stopped;
- ``python main.py train-combine OUT.pt foot=... leg=... [--base X]`` merges heads trained separately;
- ``output_dir``: ``ckpt_<iter>.pt`` every ``checkpoint_every`` iterations and ``last.pt`` at the end or on
  Ctrl-C (``{"model_state_dict", "optimizer_state_dict", "scheduler_state_dict", "iters", "config",
  "rng"}``; the model part uses the official names, so the A2V stage loads it), ``loss.jsonl`` (one line
  per ``log_every`` iterations), ``config.yaml`` (effective config), ``eval/benchmark.*`` at the end.
"""
from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from engine.training.data.records import DataError

log = logging.getLogger("a2v")


class TrainError(RuntimeError):
    """A training setup problem, phrased as one line naming the input and the fix."""


# ------------------------------------------------------------------------------------------ distributed

@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    initialized: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, Gloo on CPU)."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world=world, local_rank=local_rank, initialized=True)


# ------------------------------------------------------------------------------------------ loss weights

def frequency_weights(counts: np.ndarray, total: int) -> np.ndarray:
    """``w_c = log(1 + N / max(n_c, 1))`` normalised to mean 1 (see the module docstring)."""
    counts = np.asarray(counts, np.float64)
    weights = np.log1p(max(total, 1) / np.maximum(counts, 1.0))
    return (weights / weights.mean()).astype(np.float32)


def load_loss_weights(path: str, module_sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Official ``loss_weights.npy`` (pickled dict module -> weights) or a .json of the same layout."""
    from engine.training.data import safe_pickle

    file = Path(path)
    if not file.is_file():
        raise TrainError(f"{path}: loss weights file not found; fix data.loss_weights or leave it empty "
                         "to compute weights from the labels")
    if file.suffix == ".json":
        data = json.loads(file.read_text(encoding="utf-8"))
    else:
        data = safe_pickle.load_file(file)
    if not isinstance(data, dict):
        raise TrainError(f"{path}: expected a dict module -> per-class weights, got {type(data).__name__}")
    out = {}
    for module, size in module_sizes.items():
        if module not in data:
            continue
        w = np.asarray(data[module], np.float32).reshape(-1)
        if w.size != size:
            raise TrainError(f"{path}: weights for {module!r} have {w.size} values, expected {size}")
        out[module] = w
    return out


# ----------------------------------------------------------------------------------------------- trainer

@dataclass
class TrainResult:
    iters: int
    checkpoint: Optional[Path]
    losses: list[float] = field(default_factory=list)
    benchmark: Optional[dict] = None


def _seed_for(*parts: int) -> int:
    """A 63-bit seed from integers (stable across processes and runs)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _rng_state() -> dict:
    import torch

    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "python_version": random.getstate()[0], "python_gauss": random.getstate()[2],
             "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)), "numpy_pos": int(np_state[2]),
             "numpy_gauss": [int(np_state[3]), float(np_state[4])]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_gauss"][0], state["numpy_gauss"][1]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """One training run of a TrainConfig (see the module docstring)."""

    def __init__(self, config, progress: Optional[bool] = None):
        import torch

        from engine.training.data.convert import read_records
        from engine.training.data.dataset import HakeImages, label_counts
        from engine.training.model import MODULE_SIZES, TrainableA2V
        from engine.vocab import load_vocab

        self.config = config
        self.vocab = load_vocab()
        cfg = config.train
        from engine.device import resolve_device

        device = str(resolve_device(config.device, int(os.environ.get("LOCAL_RANK", "0"))))
        self.dist = init_distributed(device)
        self.device = torch.device(device)
        self.progress = cfg.progress if progress is None else progress
        if cfg.batch_images % self.dist.world:
            raise TrainError(f"train.batch_images ({cfg.batch_images}) must be a multiple of the number of "
                             f"processes ({self.dist.world}); each process takes an equal share")
        self.output = Path(cfg.output_dir)
        if self.dist.main:
            self.output.mkdir(parents=True, exist_ok=True)

        if not str(config.data.train).strip():
            raise DataError("data.train is not set; point it at a Trainval_HAKE LMDB folder or a2v-hake/1 .json")
        read = read_records(config.data.train, kind="train", splits=config.data.splits)
        self.images = HakeImages(read.records, config.data.image_root, what="data.train")
        self.skipped = read.skipped + self.images.skipped
        if self.skipped and self.dist.main:
            log.warning("skipped %d bad training records (first: %s)", len(self.skipped), self.skipped[0])
        self.iters_per_epoch = len(self.images) // cfg.batch_images
        if self.iters_per_epoch == 0:
            raise TrainError(f"only {len(self.images)} usable training images for train.batch_images = "
                             f"{cfg.batch_images}; lower the batch or add data")
        self.total_iters = cfg.epochs * self.iters_per_epoch
        if cfg.max_iters:
            self.total_iters = min(self.total_iters, cfg.max_iters)

        torch.manual_seed(cfg.seed)  # new (random) weights are the same in every process and run
        self.model = TrainableA2V.build(config.model.init, self.device)
        self.model.set_trainable(cfg.modules)

        sizes = {m: MODULE_SIZES[m] for m in cfg.modules}
        weights = load_loss_weights(config.data.loss_weights, sizes) if config.data.loss_weights else {}
        pasta_counts, verb_counts, persons = label_counts(self.images.records, self.vocab.group_slices)
        self.loss_weights = {}
        for m in cfg.modules:
            if m not in weights:
                group_slice = None if m == "verb" else self.vocab.group_slices[self.vocab.groups.index(m)]
                counts = verb_counts if m == "verb" else pasta_counts[group_slice]
                weights[m] = frequency_weights(counts, persons)
            self.loss_weights[m] = torch.as_tensor(weights[m], device=self.device)

        params = self.model.trainable_parameters()
        self.optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        if cfg.schedule == "cosine":
            t0 = max(1, int(round(cfg.cosine_t0_epochs * self.iters_per_epoch)))
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                self.optimizer, T_0=t0, T_mult=cfg.cosine_t_mult, eta_min=0.0)
        else:
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)
        self.iteration = 0
        self._updating = False
        self.feature_cache: dict[int, tuple] = {}
        self._ddp = None
        if self.dist.initialized:
            from torch.nn.parallel import DistributedDataParallel

            # device_ids=None: the module sits on one device and the inputs are already there, so DDP
            # has nothing to scatter (it would otherwise walk the per-image inputs)
            self._ddp = DistributedDataParallel(self.model.loss_module(), device_ids=None,
                                                broadcast_buffers=False)
        self._resume()
        self._check_same_start()

    # ------------------------------------------------------------------------------------- checkpoints
    def _resume(self) -> None:

        target = self.config.train.resume.strip()
        if not target:
            return
        if target == "auto":
            path = self.output / "last.pt"
            if not path.is_file():
                log.info("resume=auto: no %s yet, starting fresh", path)
                return
        else:
            path = Path(target)
            if not path.is_file():
                raise TrainError(f"train.resume: {path} not found; give a checkpoint path, 'auto' or ''")
        from engine.weights.registry import WeightsError
        from engine.weights.store import load_checkpoint

        try:
            state = load_checkpoint(path, map_location=self.device)  # weights only; one line for a bad file
        except WeightsError as exc:
            raise TrainError(f"train.resume: {exc}") from None
        if not isinstance(state, dict):
            raise TrainError(f"{path}: not a training checkpoint (it holds a {type(state).__name__})")
        missing = [k for k in ("model_state_dict", "optimizer_state_dict", "scheduler_state_dict", "iters")
                   if k not in state]
        if missing:
            raise TrainError(f"{path}: not a training checkpoint (missing {', '.join(missing)}); "
                             "use model.init to start from plain weights")
        saved_modules = (state.get("config") or {}).get("train", {}).get("modules")
        if saved_modules is not None and list(saved_modules) != list(self.config.train.modules):
            raise TrainError(f"{path}: trained modules {saved_modules} differ from train.modules "
                             f"{self.config.train.modules}; resume with the same modules or use model.init")
        self.model.net.load_state_dict(state["model_state_dict"], strict=True)
        self.optimizer.load_state_dict(state["optimizer_state_dict"])
        self.scheduler.load_state_dict(state["scheduler_state_dict"])
        self.iteration = int(state["iters"])
        if "rng" in state:
            _set_rng_state(state["rng"])
        if self.dist.main:
            log.info("resumed from %s at iteration %d", path, self.iteration)

    def _check_same_start(self) -> None:
        """Every process must resume from the same iteration (multi-node needs a shared output_dir)."""
        if not self.dist.initialized:
            return
        import torch
        import torch.distributed as dist

        device = self.device if self.device.type == "cuda" else "cpu"
        low = torch.tensor([self.iteration], dtype=torch.int64, device=device)
        high = low.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        if int(low.item()) != int(high.item()):
            raise TrainError(f"processes would resume from different iterations ({int(low.item())} .. "
                             f"{int(high.item())}): put train.output_dir on a filesystem all nodes share, "
                             "or give train.resume an explicit path present on every node")

    def save_checkpoint(self, name: Optional[str] = None) -> Optional[Path]:
        import torch

        if not self.dist.main:
            return None
        state = {
            "model_state_dict": self.model.net.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": self.scheduler.state_dict(),
            "iters": self.iteration,
            "config": self.config.to_dict(),
            "rng": _rng_state(),
        }
        path = self.output / (name or f"ckpt_{self.iteration:07d}.pt")
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint behind
        return path

    # ------------------------------------------------------------------------------------------ data
    def epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(_seed_for(self.config.train.seed, 1, epoch)).permutation(len(self.images))

    def batch_indices(self, iteration: int) -> list[int]:
        """Image indices of this process for ``iteration`` (a strided share of the global batch)."""
        b = self.config.train.batch_images
        epoch, pos = divmod(iteration, self.iters_per_epoch)
        batch = self.epoch_order(epoch)[pos * b:(pos + 1) * b]
        return batch[self.dist.rank::self.dist.world].tolist()

    def image_inputs(self, index: int, epoch: int):
        """(PersonBatch, ROI features) for the persons chosen for image ``index`` in ``epoch``."""
        from engine.training.data.dataset import choose_persons

        record = self.images.records[index]
        rng = np.random.default_rng(_seed_for(self.config.train.seed, 2, epoch, index))
        chosen = choose_persons(record, self.config.data.humans_per_image, rng)
        if self.config.train.cache_features:
            if index not in self.feature_cache:
                self.feature_cache[index] = self._features(index, list(range(len(record.persons))))
            batch, feats = self.feature_cache[index]
            rows = np.asarray(chosen, np.int64)
            return _select(batch, rows), feats.select(rows)
        return self._features(index, chosen)

    def _features(self, index: int, person_ids: list[int]):
        from engine.cvcompat import cv2
        from engine.training.data.dataset import build_batch, scale_for

        record = self.images.records[index]
        image = self.images.load(index)
        h, w = image.shape[:2]
        scale = scale_for((w, h), self.config.data.max_side)
        if scale != 1.0:
            image = cv2.resize(image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
        batch = build_batch(record, index, person_ids, (w, h), scale, self.vocab.group_slices)
        return batch, self.model.roi_features(image, batch)

    # ------------------------------------------------------------------------------------------ loop
    def step(self) -> float:
        """One iteration; returns this process's share of the batch loss (sum of per-image losses / B)."""
        cfg = self.config.train
        epoch = self.iteration // self.iters_per_epoch
        indices = self.batch_indices(self.iteration)
        inputs = []
        for index in indices:
            batch, feats = self.image_inputs(index, epoch)
            inputs.append((batch, feats, _seed_for(cfg.seed, 3, self.iteration, index)))
        module = self._ddp if self._ddp is not None else self.model.loss_module()
        self.model.train_heads()
        losses = module(inputs, self.loss_weights)  # (images,) per-image losses
        # scale so that averaging gradients over processes gives the mean over the global batch
        loss = losses.sum() * (self.dist.world / cfg.batch_images)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # a Ctrl-C inside the update would leave weights half-stepped: the handler does not save then
        self._updating = True
        self.optimizer.step()
        self.scheduler.step()
        self.iteration += 1
        self._updating = False
        return float(losses.detach().sum()) / cfg.batch_images

    def run(self) -> TrainResult:
        cfg = self.config.train
        if self.dist.main:
            from engine.training.config import describe

            (self.output / "config.yaml").write_text(describe(self.config), encoding="utf-8")
            log.info("training %s on %d images (%d iterations/epoch, %d processes, device %s)",
                     ",".join(cfg.modules), len(self.images), self.iters_per_epoch, self.dist.world, self.device)
        bar = None
        if self.progress and self.dist.main:
            from tqdm import tqdm

            bar = tqdm(total=self.total_iters, initial=self.iteration, desc="train", unit="it", file=sys.stderr)
        losses: list[float] = []
        window = 0.0
        window_n = 0
        last: Optional[Path] = None
        log_path = self.output / "loss.jsonl"
        if self.dist.main and self.iteration == 0 and log_path.exists():
            log_path.unlink()  # a fresh run starts a fresh log; a resumed one appends
        start = time.monotonic()
        try:
            while self.iteration < self.total_iters:
                share = self.step()
                window += share
                window_n += 1
                if self.iteration % cfg.log_every == 0 or self.iteration == self.total_iters:
                    mean = self._all_sum(window) / window_n
                    losses.append(mean)
                    if self.dist.main:
                        with open(log_path, "a", encoding="utf-8") as handle:
                            handle.write(json.dumps({
                                "iter": self.iteration, "epoch": self.iteration / self.iters_per_epoch,
                                "lr": self.optimizer.param_groups[0]["lr"], "loss": mean,
                                "seconds": round(time.monotonic() - start, 3)}) + "\n")
                    if bar is not None:
                        bar.set_postfix(loss=f"{mean:.4f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
                    window, window_n = 0.0, 0
                if bar is not None:
                    bar.update(1)
                if self.iteration % cfg.checkpoint_every == 0 and self.iteration < self.total_iters:
                    self.save_checkpoint()
        except KeyboardInterrupt:
            if self.dist.main and not self._updating:
                last = self.save_checkpoint("last.pt")
                log.info("interrupted at iteration %d; saved %s (resume with --set train.resume=auto)",
                         self.iteration, last)
            elif self.dist.main:
                log.info("interrupted during a weight update; the last periodic checkpoint stands")
            raise
        finally:
            if bar is not None:
                bar.close()
        last = self.save_checkpoint("last.pt")
        if self.dist.main and self.total_iters % cfg.checkpoint_every == 0:
            self.save_checkpoint()
        result = TrainResult(iters=self.iteration, checkpoint=last, losses=losses)
        if cfg.eval_at_end and str(self.config.data.test_gt).strip() and self.dist.main:
            from engine.training.evaluate import evaluate_scorer, write_report

            result.benchmark = evaluate_scorer(self.config, self.model.score, progress=self.progress)
            result.benchmark["checkpoint"] = str(last)
            json_path, _ = write_report(result.benchmark, self.output / "eval")
            log.info("benchmark after %d iterations written to %s", self.iteration, json_path)
        self._barrier()
        return result

    def _all_sum(self, value: float) -> float:
        if not self.dist.initialized:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([value], dtype=torch.float64,
                              device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(tensor)
        return float(tensor.item())

    def _barrier(self) -> None:
        if self.dist.initialized:
            import torch.distributed as dist

            dist.barrier()


def _select(batch, rows: np.ndarray):
    """The persons ``rows`` of a PersonBatch (for cached per-image batches)."""
    from dataclasses import replace

    return replace(batch, boxes=batch.boxes[rows], part_boxes=batch.part_boxes[rows],
                   keypoints=batch.keypoints[rows], has_pose=batch.has_pose[rows], scores=batch.scores[rows],
                   pasta=batch.pasta[rows], verbs=batch.verbs[rows], person_ids=batch.person_ids[rows])


def train(config, progress: Optional[bool] = None) -> TrainResult:
    """Train with a TrainConfig; returns the iterations done, the last checkpoint and the benchmark."""
    trainer = Trainer(config, progress=progress)
    try:
        return trainer.run()
    finally:
        if trainer.dist.initialized:
            import torch.distributed as dist

            dist.destroy_process_group()


def combine_checkpoints(output: str | Path, modules: dict[str, str | Path], base: str | Path | None = None) -> Path:
    """One model from heads trained separately (the official recipe trains each group alone, then the
    verb head on the combined model).

    ``modules``: module name (foot .. head, verb) -> checkpoint whose weights for that module are taken;
    ``base``: checkpoint for everything else (default: the first of ``modules``). Writes
    ``{"model_state_dict": ..., "combined_from": {...}}`` to ``output``.
    """
    import torch

    from engine.training.model import GROUP_ORDER, MODULE_SIZES, _state_dict_of, _torch_load

    if not modules:
        raise TrainError("combine: name at least one MODULE=CHECKPOINT")
    unknown = [m for m in modules if m not in MODULE_SIZES]
    if unknown:
        raise TrainError(f"combine: unknown module {unknown[0]!r}; choose from {', '.join(MODULE_SIZES)}")
    base = base or next(iter(modules.values()))
    state = dict(_state_dict_of(_torch_load(base), base))
    for module, path in modules.items():
        source = _state_dict_of(_torch_load(path), path)
        if module == "verb":
            prefixes = ("verb_cls_scores.",)
        else:
            g = GROUP_ORDER.index(module)
            prefixes = (f"fc7_parts.{g}.", f"part_cls_scores.{g}.", f"pool2_flat_pose_maps.{g}.")
        taken = [k for k in source if k.startswith(prefixes)]
        if not taken:
            raise TrainError(f"combine: {path} has no weights for {module!r}")
        state.update({k: source[k] for k in taken})
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": state, "combined_from": {m: str(p) for m, p in modules.items()},
                "base": str(base)}, output)
    return output
