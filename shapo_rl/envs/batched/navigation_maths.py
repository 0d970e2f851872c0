"""safety-gymnasium's per-step geometry in array form, for ``k`` envs at once, bit for bit.

Each function reproduces one method of safety-gymnasium 1.0.0 with the same float operations
in the same order, so that the results are identical (not close) to the stock ones:

* :func:`ego_xy` is ``BaseTask._ego_xy``: ``np.matmul(pos_3vec - agent_pos, agent_mat)``, a
  vector times a matrix. It is computed as a stack of ``[1, 3] @ [3, 3]`` products, the same
  vector-matrix kernel once per position, so it repeats the per-position numbers on any CPU. A
  stack of ``[n, 3] @ [3, 3]`` matrix products takes the matrix-matrix kernel instead: equal on
  one Intel AVX-512 machine, but 1 ulp off in about half the positions on an AMD EPYC (its
  BLAS kernel accumulates in another order); ``einsum`` or written-out products differ too;
* :func:`pseudo_lidar` is ``BaseTask._obs_lidar_pseudo`` (``lidar_conf.alias`` on, linear
  ``max_dist``): ``np.abs`` and ``np.angle`` of complex arrays are the scalar ``np.abs`` and
  ``np.angle`` of ``complex(x, y)`` (``np.hypot`` is not), and every bin is a maximum, which
  does not depend on the order in which positions are folded in (all readings are >= +0.0);
* :func:`distance` is ``np.sqrt(np.sum(np.square(a - b)))`` (``BaseAgent.dist_xy`` on XY,
  ``PushLevel0.dist_box`` in 3D): a sum of two or three squares adds left to right;
* :func:`quat2mat` is ``mujoco.mju_quat2Mat`` (``task_utils.quat2mat``), MuJoCo's formula.
"""

from __future__ import annotations

import numpy as np


def ego_xy(positions: np.ndarray, agent_pos: np.ndarray, agent_mat: np.ndarray) -> np.ndarray:
    """Egocentric XY ``[k, n, 2]`` of XY(Z) ``positions [k, n, >=2]`` (their Z taken as 0)."""
    world = np.empty(positions.shape[:2] + (3,))
    world[..., :2] = positions[..., :2] - agent_pos[:, None, :2]
    world[..., 2] = 0 - agent_pos[:, None, 2]
    return np.matmul(world[:, :, None, :], agent_mat[:, None])[:, :, 0, :2]


def pseudo_lidar(ego: np.ndarray, groups: np.ndarray, num_groups: int, num_bins: int, max_dist: float) -> np.ndarray:
    """Lidar bins ``[k, num_groups, num_bins]`` of egocentric XY ``ego [k, n, 2]``, position ``i``
    seen by lidar ``groups[i]`` (one ``_obs_lidar_pseudo`` per group, all groups in one pass).

    Raises ``AssertionError`` where the stock code's alias assertion would.
    """
    z = np.empty(ego.shape[:2], dtype=np.complex128)
    z.real = ego[..., 0]
    z.imag = ego[..., 1]
    dist = np.abs(z)
    angle = np.angle(z) % (np.pi * 2)
    bin_size = (np.pi * 2) / num_bins
    bins = (angle / bin_size).astype(np.int64)
    bin_angle = bin_size * bins
    reach = max_dist - dist
    sensor = np.where(reach > 0, reach, 0) / max_dist  # Python's max(0, reach)
    alias = (angle - bin_angle) / bin_size
    assert np.all((alias >= 0) & (alias <= 1)), f"bad alias {alias}"
    # Each position raises its bin to sensor, the next to alias * sensor, the previous to
    # (1 - alias) * sensor: one column per (env, group, bin), the maximum of what it received.
    width = num_groups * num_bins
    offset = groups * num_bins + np.arange(len(ego))[:, None] * width
    columns = np.concatenate([offset + bins, offset + (bins + 1) % num_bins, offset + (bins - 1) % num_bins], axis=1)
    values = np.concatenate([sensor, alias * sensor, (1 - alias) * sensor], axis=1).reshape(-1)
    order = np.argsort(columns.reshape(-1), kind="stable")
    columns, values = columns.reshape(-1)[order], values[order]
    starts = np.flatnonzero(np.r_[True, columns[1:] != columns[:-1]])
    readings = np.zeros(len(ego) * width)
    readings[columns[starts]] = np.maximum.reduceat(values, starts)
    return readings.reshape(len(ego), num_groups, num_bins)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sqrt(sum((a - b)**2))`` over the last axis (length 2 or 3), summed left to right."""
    delta = a - b
    total = delta[..., 0] * delta[..., 0] + delta[..., 1] * delta[..., 1]
    if delta.shape[-1] == 3:
        total = total + delta[..., 2] * delta[..., 2]
    return np.sqrt(total)


def quat2mat(quat: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[k, 9]`` of unit quaternions ``[k, 4]`` (``mju_quat2Mat``)."""
    a, b, c, d = quat[:, 0], quat[:, 1], quat[:, 2], quat[:, 3]
    q00, q01, q02, q03 = a * a, a * b, a * c, a * d
    q11, q12, q13 = b * b, b * c, b * d
    q22, q23, q33 = c * c, c * d, d * d
    return np.stack([q00 + q11 - q22 - q33, 2 * (q12 - q03), 2 * (q13 + q02),
                     2 * (q12 + q03), q00 - q11 + q22 - q33, 2 * (q23 - q01),
                     2 * (q13 - q02), 2 * (q23 + q01), q00 - q11 - q22 + q33], axis=1)
