"""Train a target: dataset directory → encoder + decoder (+ discriminator) → target bundle.

One readable script. Single process by default; under ``torchrun`` (``RANK``/``WORLD_SIZE`` in
the environment) it trains data-parallel with DDP — gloo on CPU, NCCL on GPUs — where each
process draws its own batches and only rank 0 logs, writes samples, checkpoints and the bundle::

    latentcam train DATA --out TARGET                       # one process
    torchrun --nproc_per_node 2 -m latentcam.latent.train DATA --out TARGET

Per step (generator side): a batch of aligned crops, part of it *region-mixed* (upper face of one
frame + lower face of a frame with a similar head pose, with the matching halves of their
feature vectors), small rigid jitter of the input landmarks (the canonicalisation noise seen
live), encode → (VAE sample) → decode, then
``L1 + SSIM`` (weighted towards the face mask) ``+ alpha·mask L1 + KL`` and, with ``--gan``,
``hinge GAN + feature matching`` after a warm-up (off by default: it did not improve held-out
frames at CPU budgets, with or without the warping decoder, and doubles the time per step —
``benchmarks/latent/ablation_single_face.md``). The discriminator step follows on detached
renders. Everything the run needs to continue (weights, Adam moments, RNG states, loss history)
is checkpointed as safetensors + JSON in ``TARGET/training/``; re-running resumes.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from . import losses
from .decoder import build_decoder
from .discriminator import Discriminator
from .encoder import Encoder
from .features import POINT_SCALE, crop_split_row, feature_layout, NUM_POINTS
from .presets import Preset, get_preset
from .train_options import TrainOptions, options_from_args
from .training_data import TrainingData, load_training_data, parse_frame_range


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


class AutoEncoder(nn.Module):
    """Encoder + decoder as one module (one DDP wrapper, one optimiser)."""

    def __init__(self, preset: Preset):
        super().__init__()
        self.encoder = Encoder(preset.encoder)
        self.decoder = build_decoder(preset.decoder)

    def forward(self, features: torch.Tensor, sample: bool
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, F) → render (B, 4, S, S), mean (B, Z), logvar (B, Z)."""
        mean, logvar = self.encoder.encode(features)
        z = mean
        if sample and self.encoder.config.vae:
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.decoder(z), mean, logvar


def initial_model(preset: Preset, data: TrainingData) -> AutoEncoder:
    """An untrained model fitted to the data: input standardisation from its features, the
    decoder's texture (if it warps) from its most neutral crop, a composed decoder's exemplar
    textures from the frames ``latent.exemplars`` picks among the unoccluded ones."""
    from .export import neutral_frames

    model = AutoEncoder(preset)
    model.encoder.set_feature_statistics(data.features)
    if preset.decoder.design == "composed":
        from .exemplars import choose_exemplars
        picks = choose_exemplars(data.blendshapes, data.pose, preset.decoder.exemplars,
                                 usable_frames(data))
        model.decoder.set_textures(data.images[picks])
    elif preset.decoder.warp:
        calm = neutral_frames(data.blendshapes, fraction=1.0)      # most neutral first
        usable = usable_frames(data)
        if usable[calm].any():
            calm = calm[usable[calm]]
        model.decoder.set_texture(data.images[calm[0]])
    return model


def usable_frames(data: TrainingData) -> np.ndarray:
    """(N,) bool: frames without a hand over the face (``TrainingData.occluded``; all of them in
    a dataset built before the hand check)."""
    return ~np.asarray(data.occluded, bool)


def reconstruction_losses(bgr: torch.Tensor, alpha: torch.Tensor, images: torch.Tensor,
                          masks: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """L1 and SSIM weighted towards the face mask, and the alpha L1 — none of them sees the
    pixels where ``valid`` is 0 (a hand over the crop, ``TrainingData.valid``): they carry no
    weight, and SSIM's windows find the render's own colour there instead of the hand."""
    weight = (0.2 + 0.8 * masks) * valid
    target = images * valid + bgr.detach() * (1 - valid)
    return {"l1": losses.masked_l1(bgr, images, weight),
            "ssim": losses.ssim_loss(bgr, target, weight),
            "alpha": losses.alpha_loss(alpha, masks, valid)}


# --- batches --------------------------------------------------------------------------------

class BatchMaker:
    """Draws training batches from in-memory uint8 crops, with region mixing and input jitter."""

    def __init__(self, data: TrainingData, opts: TrainOptions, rng: np.random.Generator,
                 device: torch.device):
        self.data, self.opts, self.rng, self.device = data, opts, rng, device
        self.images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()  # N,3,S,S u8
        self.masks = torch.from_numpy(data.masks)[:, None].contiguous()                # N,1,S,S u8
        self.occlusion = torch.from_numpy(data.occlusion)[:, None].contiguous()        # N,1,S,S u8
        self.features = torch.from_numpy(data.features)
        layout = feature_layout()
        self.lower = torch.as_tensor(layout.lower)
        s = data.size
        row = crop_split_row(s)
        ys = torch.arange(s, dtype=torch.float32)
        feather = max(s / 32.0, 1.0)
        self.lower_weight = torch.sigmoid((ys - row) / feather).view(1, 1, s, 1)  # 0 top → 1 bottom
        # Partners for region mixing: the frames with the most similar head pose.
        k = min(16, len(data))
        d = np.linalg.norm(data.pose[:, None, :2] - data.pose[None, :, :2], axis=-1)
        self.partners = np.argsort(d, axis=1)[:, :k]

    def __call__(self, batch: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ images (B, 3, S, S) float [0,1], masks (B, 1, S, S), features (B, F), valid
        (B, 1, S, S): 0 where a hand covers the crop (``TrainingData.valid``), else 1."""
        n = len(self.data)
        idx = self.rng.integers(0, n, batch)
        images = self.images[idx].float() / 255.0
        masks = self.masks[idx].float() / 255.0
        valid = 1.0 - self.occlusion[idx].float() / 255.0
        feats = self.features[idx].clone()
        n_mix = int(round(batch * self.opts.region_mix))
        if n_mix and n > 1:
            mix = np.arange(n_mix)
            partner = self.partners[idx[mix], self.rng.integers(0, self.partners.shape[1], n_mix)]
            w = self.lower_weight
            images[mix] = images[mix] * (1 - w) + self.images[partner].float() / 255.0 * w
            masks[mix] = masks[mix] * (1 - w) + self.masks[partner].float() / 255.0 * w
            valid[mix] = valid[mix] * (1 - w) + (1.0 - self.occlusion[partner].float() / 255.0) * w
            sub = feats[mix]
            sub[:, self.lower] = self.features[partner][:, self.lower]
            feats[mix] = sub
        feats = self._jitter(feats)
        cl = torch.channels_last
        return (images.to(self.device, memory_format=cl), masks.to(self.device, memory_format=cl),
                feats.to(self.device), valid.to(self.device, memory_format=cl))

    def _jitter(self, feats: torch.Tensor) -> torch.Tensor:
        """Small rigid + per-point noise on the landmark block (the canonical frame's noise)."""
        o = self.opts
        if o.jitter_cm <= 0 and o.rigid_jitter <= 0:
            return feats
        b = feats.shape[0]
        pts = feats[:, :3 * NUM_POINTS].view(b, NUM_POINTS, 3) * POINT_SCALE   # cm
        if o.rigid_jitter > 0:
            ang = torch.from_numpy(self.rng.normal(0, o.rigid_jitter, (b, 3))).float()
            scale = 1 + torch.from_numpy(self.rng.normal(0, o.rigid_jitter, (b, 1, 1))).float()
            shift = torch.from_numpy(self.rng.normal(0, o.rigid_jitter * 10, (b, 1, 3))).float()
            rot = _small_rotations(ang)
            pts = scale * pts @ rot.transpose(1, 2) + shift
        if o.jitter_cm > 0:
            pts = pts + torch.from_numpy(self.rng.normal(0, o.jitter_cm, pts.shape)).float()
        out = feats.clone()
        out[:, :3 * NUM_POINTS] = (pts / POINT_SCALE).reshape(b, -1)
        return out


def _small_rotations(ang: torch.Tensor) -> torch.Tensor:
    """(B, 3) radians → (B, 3, 3) rotation matrices (exponential map, small angles)."""
    skew = torch.zeros(ang.shape[0], 3, 3)
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -ang[:, 2], ang[:, 1], -ang[:, 0]
    skew = skew - skew.transpose(1, 2)
    return torch.linalg.matrix_exp(skew)


# --- checkpoints ----------------------------------------------------------------------------

def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{prefix}/{pid}/{key}"] = t.detach().reshape(-1).clone()
    return tensors, {"param_groups": sd["param_groups"]}


def _restore_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for name, t in tensors.items():
        if not name.startswith(prefix + "/"):
            continue
        _, pid, key = name.split("/")
        state.setdefault(int(pid), {})[key] = t
    params = [p for g in opt.param_groups for p in g["params"]]
    for pid, st in state.items():
        for key, t in list(st.items()):
            st[key] = t.reshape(()) if key == "step" else t.reshape(params[pid].shape)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(work: Path, step: int, model: AutoEncoder, disc: Discriminator | None,
                    opt_g, opt_d, rng: np.random.Generator, history: list, opts: TrainOptions,
                    preset: Preset) -> None:
    from safetensors.torch import save_file

    tensors = {f"model/{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    if disc is not None:
        tensors.update({f"disc/{k}": v.detach().contiguous() for k, v in disc.state_dict().items()})
    og, og_meta = _flatten_optimizer("opt_g", opt_g)
    tensors.update(og)
    meta = {"opt_g": og_meta}
    if opt_d is not None:
        od, od_meta = _flatten_optimizer("opt_d", opt_d)
        tensors.update(od)
        meta["opt_d"] = od_meta
    tensors["torch_rng"] = torch.get_rng_state()
    tmp = work / "checkpoint.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, work / "checkpoint.safetensors")
    state = {"step": step, "options": _jsonable(asdict(opts)), "preset": _jsonable(asdict(preset)),
             "numpy_rng": rng.bit_generator.state, "history": history, "optimizers": meta}
    tmpj = work / "checkpoint.json.tmp"
    tmpj.write_text(json.dumps(state))
    os.replace(tmpj, work / "checkpoint.json")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def load_checkpoint(work: Path, model: AutoEncoder, disc, opt_g, opt_d,
                    rng: np.random.Generator, opts: TrainOptions) -> tuple[int, list]:
    """Restore a run; returns (step, history). Raises if the checkpoint's setup differs."""
    from safetensors.torch import load_file

    state = json.loads((work / "checkpoint.json").read_text())
    old = state["options"]
    for key in ("preset", "size", "gan", "vae", "factorized", "warp", "composed", "lower_oval"):
        was = old.get(key, {"warp": False, "composed": False, "lower_oval": True}.get(key))
        if was != _jsonable(getattr(opts, key)):
            raise ValueError(f"cannot resume {work}: it was trained with {key}={was!r}, "
                             f"now {key}={getattr(opts, key)!r}; use another --out or --no-resume")
    tensors = load_file(str(work / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    if disc is not None:
        disc.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc/")})
    _restore_optimizer("opt_g", opt_g, tensors, state["optimizers"]["opt_g"])
    if opt_d is not None and "opt_d" in state["optimizers"]:
        _restore_optimizer("opt_d", opt_d, tensors, state["optimizers"]["opt_d"])
    torch.set_rng_state(tensors["torch_rng"])
    rng.bit_generator.state = state["numpy_rng"]
    return int(state["step"]), state["history"]


# --- pictures -------------------------------------------------------------------------------

def save_samples(path: Path, model: AutoEncoder, data: TrainingData, picks: np.ndarray) -> None:
    """Grid: row 1 the real crops, row 2 the renders (composited over grey by alpha)."""
    import cv2

    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(data.features[picks]), sample=False)[0].numpy()
    model.train()
    render = out.transpose(0, 2, 3, 1)
    bgr, alpha = render[..., :3], render[..., 3:]
    comp = (bgr * alpha + 0.5 * (1 - alpha)) * 255
    top = np.concatenate(list(data.images[picks]), axis=1)
    mid = np.concatenate(list(np.clip(bgr * 255, 0, 255).astype(np.uint8)), axis=1)
    bot = np.concatenate(list(np.clip(comp, 0, 255).astype(np.uint8)), axis=1)
    cv2.imwrite(str(path), np.concatenate([top, mid, bot], axis=0))


def save_loss_curves(path: Path, history: list[dict]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    keys = [k for k in history[0] if k != "step"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.6))
    steps = [h["step"] for h in history]
    for ax, key in zip(np.atleast_1d(axes), keys):
        ax.plot(steps, [h.get(key, np.nan) for h in history])
        ax.set_title(key, fontsize=9)
        ax.set_yscale("log" if all(h.get(key, 1) > 0 for h in history) else "linear")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# --- the loop -------------------------------------------------------------------------------

def _setup_distributed(opts: TrainOptions) -> tuple[_Dist, torch.device]:
    d = _Dist(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
              int(os.environ.get("LOCAL_RANK", 0)))
    use_cuda = opts.device == "cuda" or (opts.device == "auto" and torch.cuda.is_available())
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA GPU; "
                           "use --device cpu or install a CUDA build of torch")
    device = torch.device(f"cuda:{d.local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if d.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return d, device


def train(opts: TrainOptions) -> Path | None:
    """Run (or resume) a training; rank 0 returns the bundle directory, other ranks None."""
    from .export import write_target_bundle

    torch.set_num_threads(max(1, opts.threads))
    ddp, device = _setup_distributed(opts)
    try:
        if opts.composed and not opts.factorized:
            raise ValueError("the composed decoder drives each face region by its own half of the "
                             "code, which only the factorised encoder makes: drop --no-factorized "
                             "or use --no-composed")
        preset = get_preset(opts.preset, size=opts.size, vae=opts.vae, factorized=opts.factorized,
                            warp=opts.warp, composed=opts.composed, lower_oval=opts.lower_oval)
        batch = opts.batch_size or preset.batch_size
        lr = opts.learning_rate or preset.learning_rate
        identity = _signing_identity(opts) if ddp.main else None   # a bad certificate fails now
        full = load_training_data(opts.data_dir, preset.decoder.size)
        data = full.subset(parse_frame_range(opts.frames, len(full)))

        torch.manual_seed(opts.seed)                     # identical initial weights on all ranks
        model = initial_model(preset, data)
        disc = Discriminator(preset.discriminator) if opts.gan else None
        betas = (0.5, 0.999) if opts.gan else (0.9, 0.999)
        opt_g = torch.optim.Adam(model.parameters(), lr=lr, betas=betas)
        opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas) if disc else None
        rng = np.random.default_rng([opts.seed, ddp.rank])

        out = Path(opts.out_dir)
        work = out / "training"
        start, history = 0, []
        if opts.resume and (work / "checkpoint.json").is_file():
            start, history = load_checkpoint(work, model, disc, opt_g, opt_d, rng, opts)
        if ddp.main:
            (work / "samples").mkdir(parents=True, exist_ok=True)
        torch.manual_seed(opts.seed * 1000 + ddp.rank + start)   # per-rank VAE noise

        # channels-last convolutions are ~30 % faster on CPU (measured) and fine on CUDA.
        model.to(device, memory_format=torch.channels_last)
        if disc:
            disc.to(device, memory_format=torch.channels_last)
        g_model: nn.Module = model
        d_model: nn.Module | None = disc
        if ddp.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [device.index] if device.type == "cuda" else None
            g_model = DDP(model, device_ids=ids)
            d_model = DDP(disc, device_ids=ids) if disc else None

        batches = BatchMaker(data, opts, rng, device)
        picks = np.linspace(0, len(data) - 1, min(8, len(data))).round().astype(int)
        gan_from = int(opts.gan_start * opts.steps)
        progress = _progress(opts, ddp, start)
        t0 = time.perf_counter()
        running: dict[str, float] = {}
        budget = opts.max_minutes * 60.0 if opts.max_minutes else None
        done = start
        for step in range(start, opts.steps):
            frac = step / max(1, opts.steps)
            if budget is not None:
                used = (time.perf_counter() - t0) / budget
                if _agree_to_stop(used >= 1.0, ddp, device):
                    break
                frac = max(frac, used)
            for group in opt_g.param_groups + (opt_d.param_groups if opt_d else []):
                group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            images, masks, feats, valid = batches(batch)
            render, mean, logvar = g_model(feats, sample=True)
            bgr, alpha = render[:, :3], render[:, 3:]
            terms = reconstruction_losses(bgr, alpha, images, masks, valid)
            # The discriminator's "real" never shows a hand: occluded pixels take the render's.
            real = images * valid + bgr.detach() * (1 - valid)
            loss = opts.w_l1 * terms["l1"] + opts.w_ssim * terms["ssim"] + opts.w_alpha * terms["alpha"]
            if opts.vae:
                terms["kl"] = losses.kl_loss(mean, logvar)
                loss = loss + opts.w_kl * terms["kl"]
            use_gan = disc is not None and step >= gan_from
            if use_gan:
                for p in disc.parameters():
                    p.requires_grad_(False)
                fake_feats = disc(bgr)              # the bare module: no DDP sync in the G step
                with torch.no_grad():
                    real_feats = disc(real)
                terms["g_adv"] = losses.hinge_g_loss(fake_feats[-1])
                terms["fm"] = losses.feature_matching_loss(real_feats, fake_feats)
                loss = loss + opts.w_gan * terms["g_adv"] + opts.w_fm * terms["fm"]
                for p in disc.parameters():
                    p.requires_grad_(True)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            if use_gan:
                d_out_real = d_model(real)[-1]
                d_out_fake = d_model(bgr.detach())[-1]
                terms["d"] = losses.hinge_d_loss(d_out_real, d_out_fake)
                opt_d.zero_grad(set_to_none=True)
                terms["d"].backward()
                opt_d.step()
            terms["total"] = loss
            for k, v in terms.items():
                v = float(v.detach())
                running[k] = 0.9 * running.get(k, v) + 0.1 * v
            done = step + 1
            if ddp.main:
                if progress:
                    progress.update(done, running)
                if done % 10 == 0 or done == opts.steps:
                    history.append({"step": done, **{k: round(v, 6) for k, v in running.items()}})
                if done % opts.sample_every == 0 or done == opts.steps:
                    save_samples(work / "samples" / f"step_{done:06d}.png", model, data, picks)
                    save_loss_curves(work / "loss_curves.png", history)
                if done % opts.checkpoint_every == 0 or done == opts.steps:
                    save_checkpoint(work, done, model, disc, opt_g, opt_d, rng, history, opts, preset)
        if done < opts.steps and ddp.main:        # stopped by the time budget
            history.append({"step": done, **{k: round(v, 6) for k, v in running.items()}})
            save_samples(work / "samples" / f"step_{done:06d}.png", model, data, picks)
            save_loss_curves(work / "loss_curves.png", history)
            save_checkpoint(work, done, model, disc, opt_g, opt_d, rng, history, opts, preset)
        if progress:
            progress.close()
        elapsed = time.perf_counter() - t0
        if ddp.world > 1:
            dist.barrier()
        if not ddp.main:
            return None
        model.to("cpu").eval()
        info = {"steps": done, "steps_planned": opts.steps, "resumed_from": start, "seconds_this_run": round(elapsed, 1),
                "processes": ddp.world, "device": device.type, "batch_per_process": batch,
                "learning_rate": lr, "final_losses": history[-1] if history else {},
                "options": _jsonable({k: v for k, v in asdict(opts).items() if k not in ("sign_cert", "sign_key")})}
        return write_target_bundle(out, model.encoder, model.decoder, data, preset, opts, info, identity)
    finally:
        if ddp.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _signing_identity(opts: TrainOptions):
    """The identity that signs the bundle, resolved as for recordings: ``--sign-cert/--sign-key``
    (unusable ones are an error before training starts), else the local identity (if it cannot be
    created, the bundle is written unsigned with a warning)."""
    from latentcam.provenance.identity import IdentityError, resolve_identity

    try:
        return resolve_identity(opts.sign_cert, opts.sign_key)
    except IdentityError as exc:
        if opts.sign_cert is not None or opts.sign_key is not None:
            raise ValueError(f"cannot sign the bundle: {exc}") from None
        print(f"warning: the bundle will be written UNSIGNED: {exc}", file=sys.stderr)
        return None


def _agree_to_stop(local: bool, ddp: _Dist, device: torch.device) -> bool:
    """All ranks stop together (any rank out of time stops everyone)."""
    if ddp.world == 1:
        return local
    flag = torch.tensor([1.0 if local else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


class _Progress:
    """A rich progress bar showing the running losses."""

    def __init__(self, total: int, start: int):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        # Not a terminal (a log file, CI): plain lines every ~1 % instead of a live bar.
        self._plain = not Console(stderr=True).is_terminal
        self._every = max(1, total // 100)
        self._total = total
        if self._plain:
            return
        self._bar = Progress(TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                             TimeRemainingColumn(), TextColumn("{task.description}"))
        self._bar.start()
        self._task = self._bar.add_task("", total=total, completed=start)

    def update(self, done: int, running: dict[str, float]) -> None:
        text = " ".join(f"{k} {v:.4f}" for k, v in running.items())
        if self._plain:
            if done % self._every == 0 or done == self._total:
                print(f"train {done}/{self._total} {text}", flush=True)
            return
        self._bar.update(self._task, completed=done, description=text)

    def close(self) -> None:
        if not self._plain:
            self._bar.stop()


def _progress(opts: TrainOptions, ddp: _Dist, start: int) -> _Progress | None:
    """Rank 0 shows progress (when enabled); other ranks stay quiet."""
    return _Progress(opts.steps, start) if (opts.progress and ddp.main) else None


def main(argv: list[str] | None = None) -> None:
    out = train(options_from_args(argv))
    if out is not None:
        print(f"target bundle written to {out}")


if __name__ == "__main__":
    main()
