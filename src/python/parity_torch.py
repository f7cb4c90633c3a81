"""Training parity: replays a dino4j run's steps with a PyTorch DINO step built the way the
official DINO code builds it, and compares (docs/parity.md).

    python parity_torch.py train   --dump DIR --dtype float32   # -> DIR/torch-float32/
    python parity_torch.py train   --dump DIR --dtype float64   # -> DIR/torch-float64/
    python parity_torch.py compare --dump DIR [--factor 10]     # table + verdict, DIR/parity-result.json

DIR is what `dino4j parity-dump` wrote: the config, the step-0 weights (student = teacher, head
included, official names and PyTorch layouts), every step's views exactly as dino4j fed them,
dino4j's per-step loss and fed scalars, and dino4j's final student, teacher and center.

The PyTorch side is written the reference way, not the fast way (src/python/bench_torch.py is
the fast one): the official module structure (ViT, DINOHead with torch's own weight norm whose
gain is fixed at 1, MultiCropWrapper), the official DINOLoss (per-epoch teacher temperature,
center updated after the loss from the old one), the official param groups, per-step cosine
schedules with the official arithmetic, per-tensor gradient clipping, the last layer's
gradients dropped while epoch < freeze_last_layer, plain torch.optim.AdamW and autograd, and
the teacher EMA under no_grad after the optimizer step. Its schedules are computed here from the
config, not taken from dino4j; the scalars dino4j fed are only compared with them.

One deliberate difference from the official code is kept on both sides (README "Design
choices"): the position embedding is resampled for the local views with
interpolate(size=...) (timm / Hugging Face), not with the official +0.1-nudged scale factor;
`--pos-interp official` uses the official one, to measure what that choice moves; a dump made with
model.interpolate_offset 0.1 is replayed with the official one by default.

With `loss.koleo_weight > 0` or `loss.centering: sinkhorn` in the dumped config, the step adds
DINOv2's terms the way the DINOv2 code computes them: KoLeo on the student backbone's normalised
CLS output of each global view (nearest neighbour by the largest dot product with the diagonal
filled with -1, nn.PairwiseDistance's eps, -log(d + eps) averaged, summed over the two views,
times the weight), and the Sinkhorn-Knopp teacher (exp(t / tau) transposed to K x B, divided by
its total, then per iteration by the prototype sums / K and the sample sums / B, times B), which
replaces the center; the center is then never updated.

With `loss.ibot_weight > 0` the step adds DINOv2's iBOT patch loss the DINOv2 way: the student's
global views get the dump's masks (views/step-NNNN-masks.npy), the masked patch embeddings
replaced by the backbone's mask_token (zeros at step 0) before the position embedding; the teacher
sees the unmasked views; the masked positions' final patch tokens go through the same head as
the CLS tokens; the teacher's are centred with their own center (EMA of the mean over the masked
patches, updated after the loss) and sharpened with the teacher temperature; the loss is
-sum over masked patches of q . log_softmax(s / 0.1), each weighted 1 / (masked patches of its
view), divided by the number of global views (DINOv2's forward_masked, times its loss_scales 2
and ibot_loss_scale 1/2), times the weight.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import load_file, save_file


# ---------------------------------------------------------------- networks (official structure)

class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.patch_size = patch
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):  # [B, 3, H, W]
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, D]


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # [B, N, D]
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # [3, B, H, N, d/H]
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale  # [B, H, N, N]
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))  # [B, N, D]


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) GELU, as the official code
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block; drop_path is 0 in the parity run, so it is the identity."""

    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, img_size, patch, dim, depth, heads, mlp_ratio, pos_interp):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        n = (img_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pos_interp = pos_interp

    def interpolate_pos_encoding(self, npatch, w, h):
        n = self.pos_embed.shape[1] - 1
        if npatch == n and w == h:
            return self.pos_embed
        cls_pos = self.pos_embed[:, :1]  # [1, 1, D]
        grid = int(math.sqrt(n))
        dim = self.pos_embed.shape[-1]
        w0, h0 = w // self.patch_embed.patch_size, h // self.patch_embed.patch_size
        src = self.pos_embed[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)  # [1, D, g, g]
        if self.pos_interp == "official":
            # the official code: a scale factor nudged by +0.1 against a rounding problem
            pp = F.interpolate(src, scale_factor=((w0 + 0.1) / grid, (h0 + 0.1) / grid), mode="bicubic")
        else:
            pp = F.interpolate(src, size=(w0, h0), mode="bicubic", align_corners=False)
        return torch.cat((cls_pos, pp.permute(0, 2, 3, 1).reshape(1, -1, dim)), dim=1)  # [1, N'+1, D]

    def forward(self, x, masks=None, all_tokens=False):  # [B, 3, H, W] -> [B, D] (all_tokens: [B, 1+N, D])
        b, _, w, h = x.shape
        x = self.patch_embed(x)  # [B, N, D]
        if masks is not None:  # DINOv2's prepare_tokens_with_masks
            x = torch.where(masks.unsqueeze(-1), self.mask_token.to(x.dtype).unsqueeze(0), x)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)  # [B, N+1, D]
        x = x + self.interpolate_pos_encoding(x.shape[1] - 1, w, h)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x if all_tokens else x[:, 0]


def weight_normed_linear(bottleneck, out_dim):
    """torch's own weight norm, with the official parameter names weight_g [K, 1] / weight_v [K, b]."""
    layer = nn.Linear(bottleneck, out_dim, bias=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.utils.weight_norm is deprecated in favour of parametrizations
        return nn.utils.weight_norm(layer)


class DINOHead(nn.Module):
    def __init__(self, in_dim, out_dim, hidden, bottleneck, layers, norm_last_layer):
        super().__init__()
        layers = max(layers, 1)
        if layers == 1:
            self.mlp = nn.Linear(in_dim, bottleneck)
        else:
            mods = [nn.Linear(in_dim, hidden), nn.GELU()]
            for _ in range(layers - 2):
                mods += [nn.Linear(hidden, hidden), nn.GELU()]
            mods.append(nn.Linear(hidden, bottleneck))
            self.mlp = nn.Sequential(*mods)
        self.last_layer = weight_normed_linear(bottleneck, out_dim)
        self.last_layer.weight_g.data.fill_(1)
        if norm_last_layer:
            self.last_layer.weight_g.requires_grad = False  # the logits stay cosines

    def forward(self, x):
        x = F.normalize(self.mlp(x), dim=-1, p=2)  # [M, bottleneck]
        return self.last_layer(x)  # [M, K]


class MultiCropWrapper(nn.Module):
    """Backbone once per run of equal-resolution crops, then the head on all CLS features."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, crops, with_features=False):
        feats, start = [], 0
        sizes = [c.shape[-1] for c in crops]
        while start < len(crops):
            end = start
            while end < len(crops) and sizes[end] == sizes[start]:
                end += 1
            feats.append(self.backbone(torch.cat(crops[start:end])))
            start = end
        feats = torch.cat(feats)  # [sum of crop batches, D]: the backbone's normalised CLS
        out = self.head(feats)  # [sum of crop batches, K]
        return (out, feats) if with_features else out


# ---------------------------------------------------------------- loss (official semantics)

class DINOLoss(nn.Module):
    def __init__(self, out_dim, ncrops, warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs, nepochs,
                 student_temp, center_momentum, dtype):
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.ncrops = ncrops
        self.register_buffer("center", torch.zeros(1, out_dim, dtype=dtype))
        # one teacher temperature per EPOCH: linear warm-up, then constant
        self.teacher_temp_schedule = np.concatenate((
            np.linspace(warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs),
            np.ones(nepochs - warmup_teacher_temp_epochs) * teacher_temp))

    def forward(self, student_output, teacher_output, epoch, sinkhorn_iterations=0):
        student_out = (student_output / self.student_temp).chunk(self.ncrops)
        temp = self.teacher_temp_schedule[epoch]
        if sinkhorn_iterations:  # DINOv2: Sinkhorn-Knopp instead of the center, which is then not updated
            teacher_out = sinkhorn_knopp_teacher(teacher_output, temp, sinkhorn_iterations).detach().chunk(2)
        else:
            teacher_out = F.softmax((teacher_output - self.center) / temp, dim=-1).detach().chunk(2)
        total, terms = 0, 0
        for iq, q in enumerate(teacher_out):
            for v in range(len(student_out)):
                if v == iq:
                    continue  # a view is not its own target
                total = total + torch.sum(-q * F.log_softmax(student_out[v], dim=-1), dim=-1).mean()
                terms += 1
        total = total / terms
        if not sinkhorn_iterations:
            self.update_center(teacher_output)  # after the loss: this step used the old center
        return total

    @torch.no_grad()
    def update_center(self, teacher_output):
        batch_center = torch.sum(teacher_output, dim=0, keepdim=True) / len(teacher_output)
        self.center = self.center * self.center_momentum + batch_center * (1 - self.center_momentum)


@torch.no_grad()
def sinkhorn_knopp_teacher(teacher_output, teacher_temp, n_iterations):
    """DINOv2's teacher (one process: the all-reduces of its sums are identities)."""
    q = torch.exp(teacher_output / teacher_temp).t()  # [K, B]
    b, k = q.shape[1], q.shape[0]
    q /= torch.sum(q)
    for _ in range(n_iterations):
        q /= torch.sum(q, dim=1, keepdim=True)  # each prototype's total
        q /= k
        q /= torch.sum(q, dim=0, keepdim=True)  # each sample's total
        q /= b
    q *= b  # columns sum to 1
    return q.t()  # [B, K]


class KoLeoLoss(nn.Module):
    """DINOv2's Kozachenko-Leonenko entropy estimator on one view's features."""

    def __init__(self):
        super().__init__()
        self.pdist = nn.PairwiseDistance(2, eps=1e-8)

    @staticmethod
    def nearest(x):
        dots = torch.mm(x, x.t())  # [n, n]
        n = x.shape[0]
        dots.view(-1)[:: (n + 1)].fill_(-1)  # a row is not its own neighbour
        return torch.max(dots, dim=1)[1]  # [n]

    def forward(self, features, eps=1e-8):
        x = F.normalize(features, eps=eps, p=2, dim=-1)
        with torch.no_grad():
            i = self.nearest(x)
        return -torch.log(self.pdist(x, x[i]) + eps).mean()


# ---------------------------------------------------------------- optimisation helpers (official semantics)

def cosine_scheduler(base, final, epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0.0):
    """Per-step values: linear warm-up (numpy linspace, both ends) then a half cosine to `final`."""
    warmup_iters = warmup_epochs * niter_per_ep
    warmup = np.linspace(start_warmup_value, base, warmup_iters) if warmup_epochs > 0 else np.array([])
    iters = np.arange(epochs * niter_per_ep - warmup_iters)
    cos = final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))
    return np.concatenate((warmup, cos))


def params_groups(model):
    """Weight decay for every trainable tensor but biases and 1-D ones (cls_token, pos_embed ARE decayed)."""
    decayed, plain = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (plain if name.endswith(".bias") or len(p.shape) == 1 else decayed).append(p)
    return [{"params": decayed}, {"params": plain, "weight_decay": 0.0}]


def clip_gradients(model, clip):
    """Per-tensor clipping; returns the tensors' gradient norms before it and how many were scaled down."""
    norms, clipped = [], 0
    for _, p in model.named_parameters():
        if p.grad is not None:
            norm = p.grad.data.norm(2)
            norms.append(norm.item())
            coef = clip / (norm + 1e-6)
            if coef < 1:
                p.grad.data.mul_(coef)
                clipped += 1
    return norms, clipped


def cancel_gradients_last_layer(epoch, model, freeze_last_layer):
    """While epoch < freeze_last_layer the prototypes get no grad, so AdamW skips them entirely."""
    if epoch >= freeze_last_layer:
        return
    for n, p in model.named_parameters():
        if "last_layer" in n:
            p.grad = None


# ---------------------------------------------------------------- the replay

def build(cfg, dtype, pos_interp):
    m, h, a = cfg["model"], cfg["head"], cfg["augment"]

    def net():
        vit = VisionTransformer(a["global_size"], m["patch_size"], m["embed_dim"], m["depth"], m["heads"],
                                m["mlp_ratio"], pos_interp)
        head = DINOHead(m["embed_dim"], h["out_dim"], h["hidden_dim"], h["bottleneck_dim"], h["layers"],
                        h["norm_last_layer"])
        return MultiCropWrapper(vit, head).to(dtype)

    return net(), net()


class IBOTPatchLoss(nn.Module):
    """DINOv2's iBOTPatchLoss on one process: softmax_center_teacher, forward_masked, the center's EMA."""

    def __init__(self, out_dim, student_temp, center_momentum, dtype):
        super().__init__()
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim, dtype=dtype))

    @torch.no_grad()
    def softmax_center_teacher(self, teacher_patch_tokens, teacher_temp):
        return F.softmax((teacher_patch_tokens - self.center) / teacher_temp, dim=-1)

    def forward_masked(self, student_masked, teacher_q, masks, masks_weight):
        loss = torch.sum(teacher_q * F.log_softmax(student_masked / self.student_temp, dim=-1), dim=-1)  # [M]
        return -(loss * masks_weight).sum() / masks.shape[0]

    @torch.no_grad()
    def update_center(self, teacher_patch_tokens):  # [M, K]: the mean over the masked patches
        self.center = self.center * self.center_momentum + teacher_patch_tokens.mean(0, keepdim=True) * (
            1 - self.center_momentum)


def load_views(dump, step, dtype):
    g = np.load(os.path.join(dump, "views", "step-%04d-globals.npy" % step))  # [2B, G, G, 3] NHWC
    lo = np.load(os.path.join(dump, "views", "step-%04d-locals.npy" % step))  # [nB, L, L, 3]
    to = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(dtype)  # NCHW
    return to(g), to(lo)


def train(args):
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    torch.set_num_threads(args.threads)
    meta = json.load(open(os.path.join(args.dump, "parity.json")))
    cfg, steps, spe = meta["config"], meta["steps"], meta["steps_per_epoch"]
    o, lc, t, a = cfg["optim"], cfg["loss"], cfg["train"], cfg["augment"]
    epochs, batch, ncrops = t["epochs"], t["batch_size"], 2 + a["local_crops"]
    if steps != epochs * spe:
        sys.exit("parity.json: %d steps recorded, the schedules need epochs x steps_per_epoch = %d" % (steps, epochs * spe))

    # ---- networks: the same step-0 weights in student and teacher ----
    # the config's model.interpolate_offset (0: size, 0.1: the official scale factor) unless told otherwise
    from_config = "official" if cfg["model"].get("interpolate_offset", 0.0) > 0 else "size"
    pos_interp = from_config if args.pos_interp == "config" else args.pos_interp
    student, teacher = build(cfg, dtype, pos_interp)
    ibot_weight = float(lc.get("ibot_weight", 0.0))
    separate = ibot_weight > 0 and lc.get("ibot_separate_head", False)
    ibot_k = lc.get("ibot_out_dim", 0) or cfg["head"]["out_dim"] if separate else cfg["head"]["out_dim"]
    if ibot_weight > 0:  # DINOv2's backbone parameter, zeros at init (the dump's step 0 has it at zeros too)
        for net in (student, teacher):
            net.backbone.mask_token = nn.Parameter(torch.zeros(1, cfg["model"]["embed_dim"], dtype=dtype))
            if separate:  # DINOv2's ibot_head: the DINO head's structure, its own weights (from the dump)
                h = cfg["head"]
                net.ibot_head = DINOHead(cfg["model"]["embed_dim"], ibot_k, h["hidden_dim"], h["bottleneck_dim"],
                                         h["layers"], h["norm_last_layer"]).to(dtype)
    init = {k: torch.from_numpy(v).to(dtype) for k, v in load_file(os.path.join(args.dump, "init.safetensors")).items()}
    missing, unexpected = student.load_state_dict(init, strict=False)
    if unexpected or missing != (["backbone.mask_token"] if ibot_weight > 0 else []):
        sys.exit("init.safetensors does not fit the model: missing %s, unexpected %s" % (missing, unexpected))
    teacher.load_state_dict(student.state_dict(), strict=True)
    for p in teacher.parameters():
        p.requires_grad = False

    # ---- loss, optimizer, schedules ----
    dino_loss = DINOLoss(cfg["head"]["out_dim"], ncrops, lc["warmup_teacher_temp"], lc["teacher_temp"],
                         lc["warmup_teacher_temp_epochs"], epochs, lc["student_temp"], lc["center_momentum"], dtype)
    optimizer = torch.optim.AdamW(params_groups(student), betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                                  foreach=False, fused=False)  # the plain per-tensor loop
    lr_s = cosine_scheduler(o["lr"] * batch / 256.0, o["min_lr"], epochs, spe, warmup_epochs=o["warmup_epochs"])
    wd_s = cosine_scheduler(o["weight_decay"], o["weight_decay_end"], epochs, spe)
    mom_s = cosine_scheduler(o["momentum_teacher"], 1, epochs, spe)

    koleo_weight = float(lc.get("koleo_weight", 0.0))
    sinkhorn = lc.get("sinkhorn_iterations", 3) if lc.get("centering", "ema") == "sinkhorn" else 0
    koleo_loss = KoLeoLoss()
    ibot_loss = IBOTPatchLoss(ibot_k, lc["student_temp"], lc["center_momentum"], dtype)
    losses, koleos, ibots, clipped, temps, grad_norms = [], [], [], [], [], []
    t0 = time.time()
    for it in range(steps):
        epoch = it // spe
        for i, group in enumerate(optimizer.param_groups):
            group["lr"] = lr_s[it]
            if i == 0:  # only the decayed group follows the wd schedule
                group["weight_decay"] = wd_s[it]
        g, lo = load_views(args.dump, it, dtype)
        crops = list(g.chunk(2)) + list(lo.chunk(a["local_crops"]))  # view-major, as dino4j feeds them

        if ibot_weight > 0:
            # DINOv2's step: backbones by hand, the head once over the CLS tokens and the masked patches
            masks = torch.from_numpy(np.load(os.path.join(args.dump, "views", "step-%04d-masks.npy" % it)) > 0.5)  # [2B, N]
            flat = masks.flatten().nonzero().flatten()  # mask_indices_list
            weight = (1 / masks.sum(-1).clamp(min=1).to(dtype)).unsqueeze(-1).expand_as(masks)[masks]  # masks_weight
            g2 = torch.cat(crops[:2])
            with torch.no_grad():
                tt = teacher.backbone(g2, all_tokens=True)  # [2B, 1+N, D], unmasked
                if separate:
                    teacher_output = teacher.head(tt[:, 0])  # [2B, K]
                    teacher_patches = teacher.ibot_head(tt[:, 1:].flatten(0, 1)[flat])  # [M, K']
                else:
                    t_out = teacher.head(torch.cat((tt[:, 0], tt[:, 1:].flatten(0, 1)[flat])))
                    teacher_output, teacher_patches = t_out[:2 * batch], t_out[2 * batch:]  # [2B, K], [M, K]
            st = student.backbone(g2, masks=masks, all_tokens=True)  # [2B, 1+N, D]
            local_cls = student.backbone(torch.cat(crops[2:]))  # [nB, D]
            student_features = torch.cat((st[:, 0], local_cls))  # [V*B, D]
            if separate:
                student_output = student.head(student_features)
                student_patches = student.ibot_head(st[:, 1:].flatten(0, 1)[flat])
            else:
                s_out = student.head(torch.cat((student_features, st[:, 1:].flatten(0, 1)[flat])))
                student_output, student_patches = s_out[:len(student_features)], s_out[len(student_features):]
            loss = dino_loss(student_output, teacher_output, epoch, sinkhorn)
            q = ibot_loss.softmax_center_teacher(teacher_patches, dino_loss.teacher_temp_schedule[epoch])
            ibot = ibot_loss.forward_masked(student_patches, q, masks, weight) * 2 * 0.5  # loss_scales x ibot_loss_scale
            ibot_loss.update_center(teacher_patches)
            objective = loss + ibot_weight * ibot
            ibots.append(ibot.item())
        else:
            teacher_output = teacher(crops[:2])  # only the 2 global views pass through the teacher
            student_output, student_features = student(crops, with_features=True)
            loss = dino_loss(student_output, teacher_output, epoch, sinkhorn)
            objective = loss
        if koleo_weight > 0:
            # per global view (its B rows), summed over the two, as the DINOv2 train step does
            koleo = sum(koleo_loss(p) for p in student_features[:2 * batch].chunk(2))
            objective = objective + koleo_weight * koleo
            koleos.append(koleo.item())
        if not math.isfinite(objective.item()):
            sys.exit("loss is %s at step %d" % (objective.item(), it))

        optimizer.zero_grad()
        objective.backward()
        if o["clip_grad"]:
            norms, n = clip_gradients(student, o["clip_grad"])
            clipped.append(n)
            grad_norms.append(norms)
        else:
            clipped.append(0)
        cancel_gradients_last_layer(epoch, student, o["freeze_last_layer"])
        optimizer.step()

        with torch.no_grad():  # EMA of the teacher, reading the updated student
            m = mom_s[it]
            for ps, pt in zip(student.parameters(), teacher.parameters()):
                pt.data.mul_(m).add_((1 - m) * ps.detach().data)
        losses.append(loss.item())
        temps.append(float(dino_loss.teacher_temp_schedule[epoch]))

    out = os.path.join(args.dump, "torch-" + args.dtype + ("" if pos_interp == from_config else "-" + pos_interp))
    os.makedirs(out, exist_ok=True)
    np64 = lambda sd: {k: v.detach().to(torch.float64).numpy() for k, v in sd.items() if k != "backbone.mask_token"}
    save_file(np64(student.state_dict()), os.path.join(out, "final-student.safetensors"))
    save_file(np64(teacher.state_dict()), os.path.join(out, "final-teacher.safetensors"))
    state = {"center": dino_loss.center.to(torch.float64).numpy()}
    if ibot_weight > 0:  # beside the center, as dino4j's dump keeps them
        state["ibot_center"] = ibot_loss.center.to(torch.float64).numpy()
        for name, net in (("student", student), ("teacher", teacher)):
            state[name + ".mask_token"] = net.backbone.mask_token.detach().to(torch.float64).numpy()
    save_file(state, os.path.join(out, "final-center.safetensors"))
    json.dump({"dtype": args.dtype, "pos_interp": pos_interp, "losses": losses, "koleo": koleos, "ibot": ibots,
               "clipped": clipped,
               "grad_norm_median": [float(np.median(n)) for n in grad_norms],
               "lr": lr_s.tolist(), "weight_decay": wd_s.tolist(), "momentum": mom_s.tolist(), "teacher_temp": temps,
               "torch": torch.__version__, "seconds": time.time() - t0},
              open(os.path.join(out, "steps.json"), "w"))
    print("torch %s (%s): %d steps in %.1f s, last loss %.6f, tensors clipped per step: min %d, max %d of %d"
          % (args.dtype, pos_interp, steps, time.time() - t0, losses[-1], min(clipped), max(clipped),
             sum(1 for p in student.parameters() if p.requires_grad)))


# ---------------------------------------------------------------- the comparison

def split_key_bias(tensors):
    """Moves the key third of every attn.qkv.bias into its own entry (name + ":key").

    Adding a constant to every key of a row shifts that row's attention logits by q . b_k, which
    softmax ignores: the key bias's true gradient is exactly 0, so what it gets is rounding noise,
    which Adam divides by its own running size and turns into steps of up to lr. Its difference
    between two frameworks (or two dtypes) measures that noise, not the step's arithmetic, so it is
    checked against an absolute bound instead of the rounding drift.
    """
    out = {}
    for k, v in tensors.items():
        if k.endswith("attn.qkv.bias"):
            d = v.shape[0] // 3
            out[k] = np.concatenate((v[:d], v[2 * d:]))  # query and value parts
            out[k + ":key"] = v[d:2 * d]
        else:
            out[k] = v
    return out


def tensor_diff(a, b):
    """Over a group of same-named tensors: max |a - b|, and ||a - b|| / ||b|| over all of them."""
    if set(a) != set(b):
        raise SystemExit("tensor names differ: only in one: %s" % sorted(set(a) ^ set(b)))
    mx, num, den, worst = 0.0, 0.0, 0.0, ""
    for k in a:
        x, y = a[k].astype(np.float64), b[k].astype(np.float64)
        if x.shape != y.shape:
            raise SystemExit("%s: shape %s vs %s" % (k, x.shape, y.shape))
        d = np.abs(x - y)
        if d.max() > mx:
            mx, worst = float(d.max()), k
        num += float((d ** 2).sum())
        den += float((y ** 2).sum())
    return {"max_abs": mx, "rel": math.sqrt(num / max(den, 1e-300)), "worst": worst}


def worst_tensor(dj, a32, a64, factor, floor):
    """Each tensor's dino4j-torch32 distance against its own tolerance max(factor x torch32-torch64, floor):
    the tensor closest to (or furthest over) it. Per tensor, so that a small tensor's real difference
    cannot hide under another tensor's larger rounding drift."""
    worst = None
    for k in dj:
        d = float(np.abs(dj[k].astype(np.float64) - a32[k]).max())
        tol = max(factor * float(np.abs(a32[k] - a64[k]).max()), floor)
        if worst is None or d / tol > worst["share"]:
            worst = {"tensor": k, "dino4j_vs_torch32": d, "tolerance": tol, "share": d / tol}
    return worst


def compare(args):
    d = args.dump
    meta = json.load(open(os.path.join(d, "parity.json")))
    steps = meta["steps"]
    j = [json.loads(line) for line in open(os.path.join(d, "dino4j-steps.jsonl"))]
    t32 = json.load(open(os.path.join(d, "torch-float32", "steps.json")))
    t64 = json.load(open(os.path.join(d, "torch-float64", "steps.json")))
    ld = lambda sub, name: load_file(os.path.join(d, sub, name))
    groups, worst = {}, {}
    for name in ("student", "teacher", "center"):
        f = "final-%s.safetensors" % name
        dj, a32, a64 = (split_key_bias(ld(sub, f)) for sub in ("", "torch-float32", "torch-float64"))
        key = lambda t, want: {k: v for k, v in t.items() if k.endswith(":key") == want}
        worst[name] = worst_tensor(key(dj, False), key(a32, False), key(a64, False), args.factor, args.floor)
        for label, want in ((name, False), (name + " key bias", True)):
            if key(dj, want):
                groups[label] = {"dino4j_vs_torch32": tensor_diff(key(dj, want), key(a32, want)),
                                 "dino4j_vs_torch64": tensor_diff(key(dj, want), key(a64, want)),
                                 "torch32_vs_torch64": tensor_diff(key(a32, want), key(a64, want))}
    init = ld("", "init.safetensors")
    moved = tensor_diff(ld("torch-float64", "final-student.safetensors"), init)  # how far training moved the student

    loss_j = np.array([s["loss"] for s in j], dtype=np.float64)
    loss32, loss64 = np.array(t32["losses"]), np.array(t64["losses"])
    loss = {"dino4j_vs_torch32": float(np.abs(loss_j - loss32).max()),
            "dino4j_vs_torch64": float(np.abs(loss_j - loss64).max()),
            "torch32_vs_torch64": float(np.abs(loss32 - loss64).max()),
            "first_step_dino4j_vs_torch64": float(abs(loss_j[0] - loss64[0]))}
    def term(name, what):  # a DINOv2 term before its weight, every step: None when PyTorch did not train with it
        if not t32.get(name):
            return None
        if name not in j[0]:
            raise SystemExit("PyTorch trained with %s but dino4j-steps.jsonl has no %s values" % (what, name))
        d_j = np.array([s[name] for s in j], dtype=np.float64)
        d32, d64 = np.array(t32[name]), np.array(t64[name])
        return {"dino4j_vs_torch32": float(np.abs(d_j - d32).max()),
                "dino4j_vs_torch64": float(np.abs(d_j - d64).max()),
                "torch32_vs_torch64": float(np.abs(d32 - d64).max()),
                "first_step_dino4j_vs_torch64": float(abs(d_j[0] - d64[0])),
                "mean": float(d_j.mean())}

    koleo = term("koleo", "KoLeo")
    ibot = term("ibot", "iBOT")
    # the scalars dino4j fed (float32) against the reference schedules computed here (float64)
    sched = {}
    for key, ref in (("lr", t64["lr"]), ("weight_decay", t64["weight_decay"]), ("momentum", t64["momentum"]),
                     ("teacher_temp", t64["teacher_temp"])):
        fed = np.array([s[key] for s in j])
        sched[key] = float(np.max(np.abs(fed - np.array(ref)) / np.maximum(np.abs(ref), 1e-12)))
    freeze = meta["config"]["optim"]["freeze_last_layer"]
    spe = meta["steps_per_epoch"]
    freeze_ok = all(s["freeze_last_layer"] == (s["step"] // spe < freeze) for s in j)
    clipped = t32["clipped"]

    # ---- verdict: dino4j's distance to PyTorch within `factor` x PyTorch's own float32 rounding ----
    f, floor = args.factor, args.floor
    checks = {"loss": loss["dino4j_vs_torch32"] <= max(f * loss["torch32_vs_torch64"], floor)}
    if koleo is not None:
        checks["koleo"] = koleo["dino4j_vs_torch32"] <= max(f * koleo["torch32_vs_torch64"], floor)
    if ibot is not None:
        checks["ibot"] = ibot["dino4j_vs_torch32"] <= max(f * ibot["torch32_vs_torch64"], floor)
    for name, g in groups.items():
        if name.endswith("key bias"):
            checks[name] = g["dino4j_vs_torch32"]["max_abs"] <= args.key_bias_bound
        else:  # every tensor within its own tolerance (which implies the group's maximum is)
            checks[name] = worst[name]["share"] <= 1
    checks["schedules"] = max(sched.values()) <= 1e-6 and freeze_ok  # float32 rounding of the fed scalars only
    checks["clipping_active"] = min(clipped) > 0  # some tensor is clipped at every step
    checks["weights_moved"] = moved["rel"] >= 100 * groups["student"]["dino4j_vs_torch64"]["rel"]
    verdict = all(checks.values())

    cfg = meta["config"]
    lc = cfg["loss"]
    print("training parity, dino4j vs PyTorch (official DINO step): %d steps, kernels %s, centering %s, koleo_weight %s, "
          "ibot_weight %s, %s" % (steps, cfg["train"]["kernels"], lc.get("centering", "ema"), lc.get("koleo_weight", 0),
                                  lc.get("ibot_weight", 0), d))
    print("  %-32s %14s %14s %14s" % ("", "dino4j-torch32", "dino4j-torch64", "torch32-torch64"))
    print("  %-32s %14.3e %14.3e %14.3e" % ("loss, max over steps", loss["dino4j_vs_torch32"], loss["dino4j_vs_torch64"],
                                            loss["torch32_vs_torch64"]))
    if koleo is not None:
        print("  %-32s %14.3e %14.3e %14.3e" % ("KoLeo term, max over steps", koleo["dino4j_vs_torch32"],
                                                koleo["dino4j_vs_torch64"], koleo["torch32_vs_torch64"]))
    if ibot is not None:
        print("  %-32s %14.3e %14.3e %14.3e" % ("iBOT term, max over steps", ibot["dino4j_vs_torch32"],
                                                ibot["dino4j_vs_torch64"], ibot["torch32_vs_torch64"]))
    for name, g in groups.items():
        # a key bias is noise around 0 (0 in float64): only its absolute size means anything
        kinds = (("max_abs", "max abs"),) if name.endswith("key bias") else (("max_abs", "max abs"), ("rel", "relative L2"))
        for kind, label in kinds:
            print("  %-32s %14.3e %14.3e %14.3e" % ("final %s, %s" % (name, label), g["dino4j_vs_torch32"][kind],
                                                    g["dino4j_vs_torch64"][kind], g["torch32_vs_torch64"][kind]))
    print("  first-step loss, dino4j vs torch64: %.3e;  student moved from step 0 by %.3e (relative L2)"
          % (loss["first_step_dino4j_vs_torch64"], moved["rel"]))
    print("  fed schedules vs the reference (max relative): " + ", ".join("%s %.1e" % kv for kv in sched.items())
          + "; freeze flags %s" % ("match" if freeze_ok else "DIFFER"))
    print("  tensors clipped per step (torch32): min %d, max %d; steps with clipping %d of %d"
          % (min(clipped), max(clipped), sum(1 for c in clipped if c > 0), len(clipped)))
    for name, w in worst.items():
        print("  %s: the tensor nearest its tolerance is %s, %.3e of %.3e (%.0f%%)"
              % (name, w["tensor"], w["dino4j_vs_torch32"], w["tolerance"], 100 * w["share"]))
    print("  tolerance: dino4j-torch32 <= max(%g x torch32-torch64, %g) for the loss and each final tensor; "
          "key biases (true gradient 0, Adam-scaled noise) <= %g" % (f, floor, args.key_bias_bound))
    official = os.path.join(d, "torch-float64-official")
    if os.path.isdir(official):  # optional: what the deliberate resampling difference alone moves
        to = json.load(open(os.path.join(official, "steps.json")))
        sd = tensor_diff(split_key_bias(ld("torch-float64-official", "final-student.safetensors")),
                         split_key_bias(ld("torch-float64", "final-student.safetensors")))
        print("  the official +0.1 pos-embed resampling instead (torch64 vs torch64): loss %.3e, final student max abs %.3e"
              % (float(np.abs(np.array(to["losses"]) - loss64).max()), sd["max_abs"]))
    print("  checks: " + ", ".join("%s %s" % (k, "ok" if v else "FAIL") for k, v in checks.items()))
    print("  verdict: %s" % ("PASS" if verdict else "FAIL"))
    result = {"steps": steps, "kernels": cfg["train"]["kernels"], "loss": loss, "koleo": koleo, "ibot": ibot,
              "groups": groups, "moved": moved, "worst_tensor": worst,
              "schedules": sched, "freeze_flags_match": freeze_ok, "clipped": clipped, "factor": f, "floor": floor,
              "key_bias_bound": args.key_bias_bound, "checks": checks, "verdict": verdict}
    json.dump(result, open(os.path.join(d, "parity-result.json"), "w"), indent=1)
    return 0 if verdict else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="replay the dump's steps in PyTorch")
    tr.add_argument("--dump", required=True)
    tr.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    tr.add_argument("--pos-interp", choices=["config", "size", "official"], default="config",
                    help="position-embedding resampling for the local views: as the dump's model.interpolate_offset "
                         "says (default), size= (timm, Hugging Face) or the official +0.1-nudged scale factor")
    tr.add_argument("--threads", type=int, default=1, help="torch threads (1: deterministic, leaves a core free)")
    cp = sub.add_parser("compare", help="compare dino4j with the float32 and float64 replays")
    cp.add_argument("--dump", required=True)
    cp.add_argument("--factor", type=float, default=10.0,
                    help="allowed dino4j-torch32 distance as a multiple of PyTorch's own float32-float64 drift")
    cp.add_argument("--floor", type=float, default=2e-6, help="absolute bound below which any distance passes")
    cp.add_argument("--key-bias-bound", type=float, default=1e-3,
                    help="absolute bound for the attention key biases, whose updates are Adam-scaled rounding noise")
    args = p.parse_args()
    sys.exit(train(args) if args.cmd == "train" else compare(args))


if __name__ == "__main__":
    main()
