"""PyTorch side of dino4j's weight-exchange test (and a small tool for users).

Independent PyTorch references for dino4j's ViT:
  * Hugging Face transformers.ViTModel (its own code, Hugging Face naming: separate q/k/v);
  * Hugging Face Dinov2Model (LayerScale) and Dinov2WithRegistersModel (LayerScale + registers),
    DIR/dinov2.safetensors and DIR/dinov2reg.safetensors, outputs dinov2_cls_S / dinov2reg_cls_S;
  * OfficialViT below, written with the module structure and parameter names of the official DINO
    vision_transformer.py / timm (patch_embed.proj conv, cls_token, pos_embed,
    blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm) plus the DINO head
    (mlp.0/2/4, weight-normalised last_layer) wrapped as MultiCropWrapper (backbone.*, head.*).

  convert IN.pth OUT.safetensors
                        a PyTorch checkpoint (DINO's *_pretrain.pth or full checkpoint.pth, timm) as
                        safetensors for `dino4j import` (full checkpoints keep teacher.* and student.*)
  make   --out DIR      random models -> DIR/hf.safetensors (ViTModel state_dict),
                        DIR/official.pth (a DINO full checkpoint as main_dino.py saves it) and
                        DIR/official.safetensors (converted: teacher.backbone.*, teacher.head.*,
                        student.module.backbone.*, student.module.head.*),
                        DIR/inputs.safetensors (images_S [B, 3, S, S] per size S, and the reference
                        outputs hf_cls_S, teacher_cls_S, teacher_logits_S, student_cls_S, ...),
                        DIR/dtypes.safetensors (f16, bf16, f64 tensors and PyTorch's float32 of each)
  check  --inputs DIR/inputs.safetensors --job KIND:WEIGHTS:OUT [--job ...]
                        KIND official (MultiCropWrapper: backbone.* + head.*), official-backbone
                        (VisionTransformer, bare names), hf (ViTModel), dinov2 or dinov2reg
                        (Dinov2Model, Dinov2WithRegistersModel): loads WEIGHTS with
                        load_state_dict(strict=True) into a fresh module, writes OUT with cls_S
                        (and logits_S with a head) for every images_S; for the official ViT also
                        dino_cls_S: the same with the official DINO code's position interpolation
                        (scale_factor with its +0.1 nudge) instead of interpolate(size=...).

Sizes: --image 16 --patch 4 --dim 32 --depth 2 --heads 2 --sizes 16,24,12 (the first is native).
"""
import argparse
import math
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

# nn.utils.weight_norm is deprecated, but it is what the reference's DINOHead uses (weight_g/weight_v)
warnings.filterwarnings("ignore", message=".*weight_norm.*", category=FutureWarning)


# ---- the official DINO / timm ViT (structure and names of vision_transformer.py) ----

class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class OfficialViT(nn.Module):
    def __init__(self, image, patch, dim, depth, heads, mlp_ratio=4.0):
        super().__init__()
        self.patch = patch
        self.patch_embed = PatchEmbed(patch, dim)
        n = (image // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pos_mode = "size"

    def interpolate_pos_encoding(self, x, w, h):
        npatch = x.shape[1] - 1
        n = self.pos_embed.shape[1] - 1
        if npatch == n and w == h:
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        dim = x.shape[-1]
        w0, h0 = w // self.patch, h // self.patch
        g = int(math.sqrt(n))
        grid = patch_pos.reshape(1, g, g, dim).permute(0, 3, 1, 2)
        if self.pos_mode == "size":  # timm / Hugging Face / dino4j
            grid = F.interpolate(grid, size=(h0, w0), mode="bicubic", align_corners=False)
        else:  # the official DINO code: a scale factor nudged by 0.1 against floating-point error
            grid = F.interpolate(grid, scale_factor=((w0 + 0.1) / g, (h0 + 0.1) / g), mode="bicubic")
        patch_pos = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((cls_pos, patch_pos), dim=1)

    def forward(self, x):
        b, _, w, h = x.shape
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        x = x + self.interpolate_pos_encoding(x, w, h)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)[:, 0]


class DINOHead(nn.Module):
    def __init__(self, in_dim, out_dim, hidden, bottleneck):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.last_layer = nn.utils.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))

    def forward(self, x):
        x = nn.functional.normalize(self.mlp(x), dim=-1, p=2)
        return self.last_layer(x)


class MultiCropWrapper(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head


def official(a):
    vit = OfficialViT(a.image, a.patch, a.dim, a.depth, a.heads)
    return MultiCropWrapper(vit, DINOHead(a.dim, a.out_dim, a.hidden, a.bottleneck))


def hf_model(a):
    from transformers import ViTConfig, ViTModel
    cfg = ViTConfig(image_size=a.image, patch_size=a.patch, hidden_size=a.dim, num_hidden_layers=a.depth,
                    num_attention_heads=a.heads, intermediate_size=4 * a.dim, layer_norm_eps=1e-6, qkv_bias=True,
                    hidden_act="gelu", attn_implementation="eager")
    return ViTModel(cfg, add_pooling_layer=False).eval()


def hf_dinov2(a, registers):
    """Hugging Face Dinov2Model (LayerScale), or Dinov2WithRegistersModel with `registers` tokens."""
    from transformers import Dinov2Config, Dinov2Model, Dinov2WithRegistersConfig, Dinov2WithRegistersModel
    common = dict(image_size=a.image, patch_size=a.patch, hidden_size=a.dim, num_hidden_layers=a.depth,
                  num_attention_heads=a.heads, mlp_ratio=4, layer_norm_eps=1e-6, qkv_bias=True, hidden_act="gelu",
                  layerscale_value=1e-5, attn_implementation="eager")
    if registers:
        return Dinov2WithRegistersModel(Dinov2WithRegistersConfig(num_register_tokens=registers, **common)).eval()
    return Dinov2Model(Dinov2Config(**common)).eval()


def randomise(module, gen):
    """Weights much larger than the init, so that every term (attention, pos_embed, ...) matters."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.2
            if "norm" in name and name.endswith("weight"):  # LayerNorm gains around 1
                p.copy_(1 + noise)
            elif name.endswith("weight_g"):
                p.copy_(1 + noise.abs())
            elif name.endswith("lambda1"):  # LayerScale gains of both signs, well away from their 1e-5 init
                p.copy_(noise * 2.5)
            else:
                p.copy_(noise * (2.5 if name.endswith(("cls_token", "pos_embed", "position_embeddings", "register_tokens")) else 1))


def hf_cls(model, x, native):
    out = model(pixel_values=x, interpolate_pos_encoding=(x.shape[-1] != native))
    return out.last_hidden_state[:, 0]


def pth_to_safetensors(src, dst):
    """A PyTorch checkpoint -> safetensors. DINO's full checkpoints (checkpoint.pth) keep both networks,
    flattened to student.* / teacher.* (optimizer, loss center and args are dropped); a plain
    state_dict (dino_vits16_pretrain.pth, timm) or one under "state_dict"/"model" is written as is."""
    ckpt = torch.load(src, map_location="cpu", weights_only=False)  # full checkpoints pickle argparse args
    if "teacher" in ckpt or "student" in ckpt:
        flat = {f"{net}.{k}": v for net in ("teacher", "student") if net in ckpt for k, v in ckpt[net].items()}
    else:
        flat = ckpt.get("state_dict", ckpt.get("model", ckpt))
    tensors = {k: v.contiguous() for k, v in flat.items() if isinstance(v, torch.Tensor)}
    save_file(tensors, dst, metadata={"format": "pt"})
    print(f"{src} -> {dst}: {len(tensors)} tensors")


def make(a):
    gen = torch.Generator().manual_seed(a.seed)
    sizes = [int(s) for s in a.sizes.split(",")]
    tensors = {}
    for s in sizes:
        tensors[f"images_{s}"] = torch.randn((a.batch, 3, s, s), generator=gen)

    hf = hf_model(a)
    randomise(hf, gen)
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, f"{a.out}/hf.safetensors", metadata={"format": "pt"})
    # DINOv2 backbones: LayerScale; LayerScale + 2 registers
    dinov2 = {"dinov2": hf_dinov2(a, 0), "dinov2reg": hf_dinov2(a, 2)}
    for tag, m in dinov2.items():
        randomise(m, gen)
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, f"{a.out}/{tag}.safetensors",
                  metadata={"format": "pt"})

    teacher, student = official(a).eval(), official(a).eval()
    randomise(teacher, gen)
    randomise(student, gen)
    # a DINO full checkpoint as main_dino.py saves it (student in DistributedDataParallel), through the converter
    ckpt = {"student": {f"module.{k}": v for k, v in student.state_dict().items()},
            "teacher": teacher.state_dict(), "optimizer": {"state": {}}, "epoch": 3,
            "args": argparse.Namespace(arch="vit_small"), "dino_loss": {"center": torch.zeros(1, a.out_dim)}}
    torch.save(ckpt, f"{a.out}/official.pth")
    pth_to_safetensors(f"{a.out}/official.pth", f"{a.out}/official.safetensors")

    with torch.no_grad():
        for s in sizes:
            x = tensors[f"images_{s}"]
            tensors[f"hf_cls_{s}"] = hf_cls(hf, x, a.image)
            for tag, m in dinov2.items():
                tensors[f"{tag}_cls_{s}"] = m(pixel_values=x).last_hidden_state[:, 0]
            for tag, net in (("teacher", teacher), ("student", student)):
                cls = net.backbone(x)
                tensors[f"{tag}_cls_{s}"] = cls
                tensors[f"{tag}_logits_{s}"] = net.head(cls)
    save_file({k: v.contiguous() for k, v in tensors.items()}, f"{a.out}/inputs.safetensors")

    # the same values in every float dtype, and what PyTorch converts each to in float32
    x = torch.randn((4, 5), generator=gen, dtype=torch.float64) * 100
    dtypes = {}
    for name, dt in (("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)):
        dtypes[name] = x.to(dt)
        dtypes[name + "_as_f32"] = x.to(dt).to(torch.float32)
    save_file(dtypes, f"{a.out}/dtypes.safetensors")
    print("hf state_dict names:", ", ".join(list(hf.state_dict())[:6]), "...")


def check_one(a, kind, weights, inputs, out_path):
    state = load_file(weights)
    out = {}
    if kind in ("dinov2", "dinov2reg"):
        model = hf_dinov2(a, 2 if kind == "dinov2reg" else 0)
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            for k, x in inputs.items():
                if k.startswith("images_"):
                    out["cls_" + k[7:]] = model(pixel_values=x).last_hidden_state[:, 0]
    elif kind == "hf":
        model = hf_model(a)
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            for k, x in inputs.items():
                if k.startswith("images_"):
                    out["cls_" + k[7:]] = hf_cls(model, x, a.image)
    else:
        net = official(a)
        module = net if kind == "official" else net.backbone
        module.load_state_dict(state, strict=True)
        net.eval()
        with torch.no_grad():
            for k, x in inputs.items():
                if not k.startswith("images_"):
                    continue
                s = k[7:]
                net.backbone.pos_mode = "size"
                out["cls_" + s] = net.backbone(x)
                if kind == "official":
                    out["logits_" + s] = net.head(out["cls_" + s])
                net.backbone.pos_mode = "dino"
                out["dino_cls_" + s] = net.backbone(x)
    save_file({k: v.contiguous() for k, v in out.items()}, out_path)
    print(f"{weights}: load_state_dict(strict=True) into the {kind} module: ok ({len(state)} tensors)")


def check(a):
    inputs = load_file(a.inputs)
    for job in a.job:
        kind, weights, out_path = job.split(":")
        check_one(a, kind, weights, inputs, out_path)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["convert", "make", "check"])
    p.add_argument("paths", nargs="*", help="convert: IN.pth OUT.safetensors")
    p.add_argument("--out", help="make: the output folder")
    p.add_argument("--inputs", help="check: inputs.safetensors from make")
    p.add_argument("--job", action="append", default=[],
                   help="check: KIND:WEIGHTS:OUT, KIND one of official, official-backbone, hf, dinov2, dinov2reg (repeatable)")
    p.add_argument("--image", type=int, default=16)
    p.add_argument("--patch", type=int, default=4)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--out-dim", dest="out_dim", type=int, default=64)
    p.add_argument("--hidden", type=int, default=48)
    p.add_argument("--bottleneck", type=int, default=16)
    p.add_argument("--sizes", default="16,24,12")
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.manual_seed(a.seed)
    if a.mode == "convert":
        if len(a.paths) != 2:
            p.error("convert needs IN.pth OUT.safetensors")
        pth_to_safetensors(*a.paths)
    else:
        make(a) if a.mode == "make" else check(a)


if __name__ == "__main__":
    main(sys.argv[1:])
