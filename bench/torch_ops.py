"""PyTorch's times for bench -- ops O1 and O2 (float64, 2 threads), printed as the constants bench/Ops.cs
quotes: run on the benchmark machine with `/usr/bin/python3 bench/torch_ops.py` (Debian's python3-torch)."""
import time
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)
dt = torch.float64


def median_ms(step, warmup=3, reps=15):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


# O1: conv2d 32x3x32x32 * 16x3x3x3, padding 1, forward + input and weight VJPs.
x = torch.randn(32, 3, 32, 32, dtype=dt, requires_grad=True)
w = torch.randn(16, 3, 3, 3, dtype=dt, requires_grad=True)
lam = torch.randn(32, 16, 32, 32, dtype=dt)


def conv_step():
    x.grad = None
    w.grad = None
    F.conv2d(x, w, padding=1).backward(lam)


# O2: the small CNN's training step on 64 images, int64 labels.
n = 64
xs = torch.randn(n, 3, 32, 32, dtype=dt)
ys = torch.randint(0, 10, (n,))
params = [torch.randn(8, 3, 3, 3, dtype=dt) * 0.3, torch.zeros(8, dtype=dt),
          torch.randn(16, 8, 3, 3, dtype=dt) * 0.15, torch.zeros(16, dtype=dt),
          torch.randn(10, 1024, dtype=dt) * 0.03, torch.zeros(10, dtype=dt)]
for p in params:
    p.requires_grad_()


def cnn_step():
    for p in params:
        p.grad = None
    w1, b1, w2, b2, w3, b3 = params
    h = F.max_pool2d(F.relu(F.conv2d(xs, w1, b1, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
    F.cross_entropy(F.linear(h.reshape(n, -1), w3, b3), ys).backward()


print(f"torch {torch.__version__}: O1 conv {median_ms(conv_step):.1f} ms, O2 CNN step {median_ms(cnn_step):.1f} ms")
