"""A PyTorch CycleGAN with c2gan_tf's layers (CSBDeep U-Net generators, PatchGAN discriminators) and train step.

Used by ``speed.py`` only, as the reference a training step is timed against; the parameter counts are checked
against the Keras networks there.
"""
import torch
from torch import nn


class UNet(nn.Module):
    """CSBDeep's ``common_unet`` (2 convolutions per level, ReLU, max pooling, nearest upsampling, residual)."""

    def __init__(self, channels=1, depth=2, first=32, kernel=5):
        super().__init__()

        def conv(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.ReLU())

        self.depth = depth
        self.down = nn.ModuleList()
        cin = channels
        for n in range(depth):
            f = first * 2 ** n
            self.down.append(nn.Sequential(conv(cin, f), conv(f, f)))
            cin = f
        self.middle = nn.Sequential(conv(cin, first * 2 ** depth), conv(first * 2 ** depth, first * 2 ** (depth - 1)))
        self.up = nn.ModuleList()
        cin = first * 2 ** (depth - 1)
        for n in reversed(range(depth)):
            f = first * 2 ** n
            self.up.append(nn.Sequential(conv(cin + f, f), conv(f, first * 2 ** max(0, n - 1))))
            cin = first * 2 ** max(0, n - 1)
        self.out = nn.Conv2d(cin, channels, 1)

    def forward(self, x):
        skips, h = [], x
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = nn.functional.max_pool2d(h, 2)
        h = self.middle(h)
        for block, skip in zip(self.up, reversed(skips)):
            h = block(torch.cat([nn.functional.interpolate(h, scale_factor=2, mode='nearest'), skip], 1))
        return self.out(h) + x


class PatchGAN(nn.Module):
    """70x70 PatchGAN: 4x4 convolutions 64-128-256-512 (strides 2-2-2-1), instance norm, LeakyReLU(0.2)."""

    def __init__(self, channels=1, first=64, layers=3):
        super().__init__()
        mods, cin = [], channels
        for i in range(layers + 1):
            f = first * 2 ** min(i, 3)
            stride = 2 if i < layers else 1
            mods.append(nn.Conv2d(cin, f, 4, stride, padding=1 if stride == 2 else 'same', bias=(i == 0)))
            if i > 0:
                mods.append(nn.InstanceNorm2d(f, affine=True, eps=1e-5))
            mods.append(nn.LeakyReLU(0.2))
            cin = f
        mods.append(nn.Conv2d(cin, 1, 4, padding='same'))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


class CycleGAN:
    """Two generators, two discriminators, history pools, Adam; ``step(x, y)`` is one training step."""

    def __init__(self, first=32, disc_first=64, lambda_cycle=10.0, rho=5.0, pool_size=50):
        self.G, self.F, self.D_A, self.D_B = UNet(first=first), UNet(first=first), PatchGAN(first=disc_first), \
            PatchGAN(first=disc_first)
        self.gen_opt = torch.optim.Adam(list(self.G.parameters()) + list(self.F.parameters()), 2e-4, (0.5, 0.999))
        self.disc_opt = torch.optim.Adam(list(self.D_A.parameters()) + list(self.D_B.parameters()), 2e-4,
                                         (0.5, 0.999))
        self.lambda_cycle, self.rho, self.pool_size = lambda_cycle, rho, pool_size
        self.pools = {'A': [], 'B': []}

    def _pool(self, key, images):
        pool, out = self.pools[key], []
        for img in images:
            img = img[None].detach()
            if len(pool) < self.pool_size:
                pool.append(img)
                out.append(img)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(0, self.pool_size, ()))
                out.append(pool[i])
                pool[i] = img
            else:
                out.append(img)
        return torch.cat(out)

    @staticmethod
    def _mask(img, t):
        return torch.sigmoid(20.0 * (img.mean(1) - t))

    def step(self, x, y):
        mse, l1 = nn.functional.mse_loss, nn.functional.l1_loss
        fake_b, fake_a = self.G(x), self.F(y)
        rec_a, rec_b = self.F(fake_b), self.G(fake_a)
        d_fb, d_fa = self.D_B(fake_b), self.D_A(fake_a)
        adv = mse(d_fb, torch.ones_like(d_fb)) + mse(d_fa, torch.ones_like(d_fa))
        cycle = l1(rec_a, x) + l1(rec_b, y)
        struct = l1(self._mask(x, 0.3), self._mask(fake_b, 0.3)) + l1(self._mask(y, 0.3), self._mask(fake_a, 0.3))
        loss = adv + self.lambda_cycle * cycle + self.rho * struct
        self.gen_opt.zero_grad()
        loss.backward()
        self.gen_opt.step()
        pa, pb = self._pool('A', fake_a), self._pool('B', fake_b)
        dra, dfa, drb, dfb = self.D_A(x), self.D_A(pa), self.D_B(y), self.D_B(pb)
        disc = 0.5 * (mse(dra, torch.ones_like(dra)) + mse(dfa, torch.zeros_like(dfa))) + \
            0.5 * (mse(drb, torch.ones_like(drb)) + mse(dfb, torch.zeros_like(dfb)))
        self.disc_opt.zero_grad()
        disc.backward()
        self.disc_opt.step()
        return float(loss.detach()), float(disc.detach())


def conv_flops(module, shape):
    """Multiply-adds x 2 of all convolutions of a module for one input of ``shape`` (N, C, H, W)."""
    flops = []

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        flops.append(2 * k * m.in_channels * m.out_channels * out.shape[2] * out.shape[3] * out.shape[0])

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        module(torch.zeros(shape))
    for h in handles:
        h.remove()
    return sum(flops)
