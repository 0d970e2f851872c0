"""Time of one Fisher-vector product of the default actor, closed form against autograd's double
backward, in one run (alternating, so a noisy machine slows both alike).

The actor of the default run (64x64 tanh MLP, float32, one torch thread) on an epoch's batch
(``--states``, default 20,000) of ``--obs-dim`` observations (60: SafetyPointGoal1-v0; Hopper
has 12) and ``--act-dim`` actions. Prints the median milliseconds per product of each form, their
ratio, and the largest relative difference of the products (float32 rounding)::

    python benchmarks/fisher_product.py --obs-dim 60 --act-dim 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from shapo_rl.algorithms.losses import AnchoredKL
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim.fisher import fisher_vector_product


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=20_000)
    parser.add_argument("--obs-dim", type=int, default=60)
    parser.add_argument("--act-dim", type=int, default=2)
    parser.add_argument("--products", type=int, default=16, help="products per solve (CG 15 + x^T F x)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policy = GaussianPolicy(args.obs_dim, args.act_dim, (64, 64))
    obs = torch.randn(args.states, args.obs_dim)
    with torch.no_grad():
        loc, scale = policy(obs)
    kl = AnchoredKL(policy, obs, loc, scale, reduction="mean")
    params = list(policy.parameters())
    v = torch.randn(sum(p.numel() for p in params))
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.rounds):
        for closed in (True, False):
            start = time.perf_counter()
            fvp = fisher_vector_product(kl, params, closed_form=closed)  # built once per solve, as in a step
            for _ in range(args.products):
                product = fvp(v)
            times[closed].append((time.perf_counter() - start) / args.products)
    ours, theirs = (1e3 * statistics.median(times[c]) for c in (True, False))
    a, b = fisher_vector_product(kl, params)(v), fisher_vector_product(kl, params, closed_form=False)(v)
    print(f"states {args.states}, obs {args.obs_dim}, act {args.act_dim}: closed form {ours:.2f} ms, "
          f"double backward {theirs:.2f} ms per product (built once per {args.products}); "
          f"{theirs / ours:.2f}x; relative difference {float((a - b).norm() / b.norm()):.1e}")
    del product


if __name__ == "__main__":
    main()
