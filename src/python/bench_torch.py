"""PyTorch reference of dino4j's training step, for `make bench` (side by side with `dino4j bench`).

One DINO step exactly as dino4j's train_step op does it, written the way the official code
(main_dino.py, vision_transformer.py) does, with the faster PyTorch idioms where they exist:
  * student ViT on every view, one backbone pass per crop resolution (MultiCropWrapper), the head
    once on all CLS tokens; teacher (no grad) on the 2 global views only;
  * pre-norm blocks, qkv bias, exact GELU, stochastic depth rising linearly to --drop-path
    (student only), bicubic position-embedding resampling for the local grid;
  * DINO head: Linear-GELU x (layers-1), Linear to the bottleneck, L2 normalisation, weight-normed
    last layer without bias (weight_g frozen at 1: norm_last_layer);
  * DINO loss over the pairs (teacher view i, student view v != i) with the OLD center, student
    temperature --student-temp, teacher temperature 0.04;
  * per-tensor gradient clipping (the official clip_gradients), AdamW with decay on rank > 1
    tensors only (fused kernel), then the EMA teacher update, then the center update.
Synthetic views (standard normal), model step only, as `dino4j bench`.

  --precision fp32    everything float32
  --precision bf16    torch.autocast('cpu', torch.bfloat16) around the forward passes and the loss;
                      parameters, gradients and optimizer state stay float32
  --last-block cls    the last block on the CLS row only, as dino4j's training graph (default full)
  --matmul            instead of a step: fp32 and bf16 GFLOP/s of 1024^3 matmul chains

Prints one JSON line on stdout. The sizes come from dino4j's config (dino4j bench --compare passes
them), so one YAML file drives both frameworks.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- networks ----

class Block(nn.Module):
    def __init__(self, dim, heads, hidden, drop_path, attention):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.attention = attention
        self.drop_path = drop_path
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def attn(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, N, hd]
        if self.attention == "sdpa":
            x = F.scaled_dot_product_attention(q, k, v)
        else:  # the official code's explicit softmax(q k^T) v
            a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # [B, H, N, N]
            x = a @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))

    def dropped(self, x):
        if not self.training or self.drop_path == 0.0:
            return x
        keep = 1 - self.drop_path
        mask = torch.rand(x.shape[0], 1, 1, dtype=x.dtype).add_(keep).floor_()
        return x.div(keep) * mask

    def forward(self, x):
        x = x + self.dropped(self.attn(self.norm1(x)))
        return x + self.dropped(self.fc2(F.gelu(self.fc1(self.norm2(x)))))

    def forward_cls(self, x):  # [B, N, D] -> the CLS row's output [B, 1, D]: query, proj, MLP on it alone
        b, n, c = x.shape
        h = self.norm1(x)
        q = F.linear(h[:, :1], self.qkv.weight[:c], self.qkv.bias[:c]).reshape(b, 1, self.heads, c // self.heads)
        kv = F.linear(h, self.qkv.weight[c:], self.qkv.bias[c:]).reshape(b, n, 2, self.heads, c // self.heads)
        q, kv = q.transpose(1, 2), kv.permute(2, 0, 3, 1, 4)  # [B, H, 1, hd], [2, B, H, N, hd]
        a = ((q @ kv[0].transpose(-2, -1)) * self.scale).softmax(dim=-1)  # [B, H, 1, N]
        x = x[:, :1] + self.dropped(self.proj((a @ kv[1]).transpose(1, 2).reshape(b, 1, c)))
        return x + self.dropped(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class ViT(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.grid = a.global_size // a.patch
        self.patch_embed = nn.Conv2d(3, a.dim, a.patch, a.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, a.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid * self.grid, a.dim))
        hidden = round(a.dim * a.mlp_ratio)
        rates = [a.drop_path * i / max(a.depth - 1, 1) for i in range(a.depth)]
        self.blocks = nn.ModuleList(Block(a.dim, a.heads, hidden, r, a.attention) for r in rates)
        self.norm = nn.LayerNorm(a.dim, eps=1e-6)
        self.cls_only = a.last_block == "cls"
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def pos(self, grid):
        if grid == self.grid:
            return self.pos_embed
        d = self.pos_embed.shape[-1]
        patch = self.pos_embed[:, 1:].reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, size=(grid, grid), mode="bicubic", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], patch.permute(0, 2, 3, 1).reshape(1, -1, d)], dim=1)

    def forward(self, x):  # [B, 3, S, S] -> CLS [B, D]
        x = self.patch_embed(x)  # [B, D, g, g]
        grid = x.shape[-1]
        x = x.flatten(2).transpose(1, 2)  # [B, N, D]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos(grid)
        if self.cls_only:  # dino4j's training graph: the last block on the CLS row only, same result
            for blk in self.blocks[:-1]:
                x = blk(x)
            return self.norm(self.blocks[-1].forward_cls(x))[:, 0]
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]


class DinoHead(nn.Module):
    def __init__(self, a):
        super().__init__()
        dims = [a.dim] + [a.head_hidden] * (a.head_layers - 1) + [a.bottleneck]
        self.mlp = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:]))
        # weight_norm(Linear(bottleneck, K, bias=False)) written out: weight = g * v / ||v||_row
        self.weight_v = nn.Parameter(torch.empty(a.out_dim, a.bottleneck))
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))  # nn.Linear's default init
        self.weight_g = nn.Parameter(torch.ones(a.out_dim, 1), requires_grad=not a.norm_last_layer)

    def forward(self, x):  # [M, D] -> [M, K]
        for i, layer in enumerate(self.mlp):
            x = layer(x)
            if i < len(self.mlp) - 1:
                x = F.gelu(x)
        x = F.normalize(x, dim=-1, p=2)
        return F.linear(x, self.weight_v * (self.weight_g / self.weight_v.norm(dim=1, keepdim=True)))


class MultiCrop(nn.Module):
    """One backbone pass per crop resolution, then the head once on all CLS tokens."""

    def __init__(self, a):
        super().__init__()
        self.backbone = ViT(a)
        self.head = DinoHead(a)
        for m in self.modules():  # the reference's _init_weights
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, crops):
        return self.head(torch.cat([self.backbone(c) for c in crops]))


def dino_loss(student, teacher, center, views, student_temp, teacher_temp):
    s = (student / student_temp).chunk(views)
    q = F.softmax((teacher - center) / teacher_temp, dim=-1).detach().chunk(2)
    total, pairs = 0.0, 0
    for i, qi in enumerate(q):
        for v, sv in enumerate(s):
            if v != i:
                total = total + torch.sum(-qi * F.log_softmax(sv, dim=-1), dim=-1).mean()
                pairs += 1
    return total / pairs


# ---- one training step ----

def make_step(a):
    student = MultiCrop(a)
    teacher = MultiCrop(a)
    teacher.load_state_dict(student.state_dict())
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad = False
    params = [p for p in student.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-4, weight_decay=0.04, **optimizer_kwargs())
    student_params = list(student.parameters())
    teacher_params = list(teacher.parameters())
    center = torch.zeros(1, a.out_dim)
    views = 2 + a.local_crops
    autocast = a.precision == "bf16"

    def step(globals_, locals_, momentum=0.996, teacher_temp=0.04):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            with torch.no_grad():
                t_out = teacher([globals_])  # only the 2 global views pass through the teacher
            s_out = student([globals_, locals_] if a.local_crops else [globals_])
            loss = dino_loss(s_out.float(), t_out.float(), center, views, a.student_temp, teacher_temp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:  # the official clip_gradients: per tensor, not the global norm
            for p in params:
                coef = a.clip / (p.grad.norm(2) + 1e-6)
                if coef < 1:
                    p.grad.mul_(coef)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(teacher_params, momentum)
            torch._foreach_add_(teacher_params, student_params, alpha=1 - momentum)
            batch_center = t_out.float().sum(dim=0, keepdim=True) / t_out.shape[0]
            center.mul_(a.center_momentum).add_(batch_center * (1 - a.center_momentum))
        return loss.item()

    return step


def optimizer_kwargs():
    # the fused CPU AdamW kernel (torch >= 2.4) is PyTorch's fastest; older releases loop per tensor
    try:
        torch.optim.AdamW([nn.Parameter(torch.zeros(1))], fused=True)
        return {"fused": True}
    except (RuntimeError, TypeError):
        return {"foreach": True}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def check_cls_only(a):
    """The CLS-only last block gives the full backbone's CLS output (eval mode, fp32)."""
    torch.manual_seed(0)
    vit = ViT(a).eval()
    x = torch.randn(4, 3, a.global_size, a.global_size)
    with torch.no_grad():
        fast = vit(x)
        vit.cls_only = False
        full = vit(x)
    if not torch.allclose(fast, full, rtol=1e-4, atol=1e-5):
        raise SystemExit("--last-block cls differs from the full forward by %g" % (fast - full).abs().max())


def bench_step(a):
    if a.last_block == "cls":
        check_cls_only(a)
    torch.manual_seed(0)
    step = make_step(a)
    b = a.batch
    gen = torch.Generator().manual_seed(1)
    globals_ = torch.randn(2 * b, 3, a.global_size, a.global_size, generator=gen)
    locals_ = torch.randn(a.local_crops * b, 3, a.local_size, a.local_size, generator=gen)
    loss = float("nan")
    for _ in range(a.warmup):
        loss = step(globals_, locals_)
    times = []
    cpu = time.process_time()  # all threads of the process
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step(globals_, locals_)
        times.append(time.perf_counter() - t0)
    secs = sum(times)
    cpu = time.process_time() - cpu
    return {
        "framework": "pytorch", "torch": torch.__version__, "precision": a.precision,
        "attention": a.attention, "last_block": a.last_block, "threads": torch.get_num_threads(), "batch": b,
        "steps": a.steps, "warmup": a.warmup, "images_per_s": a.steps * b / secs,
        "step_ms": 1000 * secs / a.steps, "step_ms_min": 1000 * min(times),
        "cpu_ms_per_step": 1000 * cpu / a.steps,
        "peak_rss_bytes": peak_rss_bytes(), "last_loss": loss,
    }


def bench_matmul(n=1024, chain=8, reps=5):
    out = {"framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads()}
    gen = torch.Generator().manual_seed(0)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        x = torch.randn(n, n, generator=gen).to(dtype)
        w = (torch.randn(n, n, generator=gen) / math.sqrt(n)).to(dtype)
        best = float("inf")
        for i in range(reps + 1):
            t0 = time.perf_counter()
            y = x
            for _ in range(chain):
                y = y @ w
            float(y.float().sum())
            if i > 0:  # the first run pays for kernel selection
                best = min(best, time.perf_counter() - t0)
        out["matmul_gflops_" + name] = chain * 2.0 * n ** 3 / best / 1e9
    out["peak_rss_bytes"] = peak_rss_bytes()
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--matmul", action="store_true", help="measure matmul peaks instead of the step")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--global-size", type=int, default=32)
    p.add_argument("--local-size", type=int, default=16)
    p.add_argument("--local-crops", type=int, default=6)
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--mlp-ratio", type=float, default=4.0)
    p.add_argument("--drop-path", type=float, default=0.1)
    p.add_argument("--head-hidden", type=int, default=1024)
    p.add_argument("--bottleneck", type=int, default=256)
    p.add_argument("--head-layers", type=int, default=3)
    p.add_argument("--out-dim", type=int, default=4096)
    p.add_argument("--norm-last-layer", type=int, default=1, choices=[0, 1])
    p.add_argument("--student-temp", type=float, default=0.1)
    p.add_argument("--center-momentum", type=float, default=0.9)
    p.add_argument("--clip", type=float, default=3.0)
    p.add_argument("--attention", choices=["explicit", "sdpa"], default="explicit",
                   help="explicit (default): the official softmax(q k^T) v, PyTorch's faster path here (its CPU"
                        " flash-attention backward is 1.5x slower in bf16 and no faster in fp32);"
                        " sdpa: F.scaled_dot_product_attention")
    p.add_argument("--last-block", choices=["full", "cls"], default="full",
                   help="full (default): the official code, every token through every block; cls: the last"
                        " block for the CLS row only (its other rows are never read), as dino4j's training"
                        " graph; checked against full before timing")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="0 = one per core, as dino4j's default")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads if a.threads > 0 else os.cpu_count())
    result = bench_matmul() if a.matmul else bench_step(a)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
