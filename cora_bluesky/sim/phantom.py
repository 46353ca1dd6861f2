"""Parallel-beam projections of a small analytic phantom, and the rotation-center estimate.

The phantom is a few disks of different densities in the sample plane. A disk's projection is
its chord length, so every projection is exact (no interpolation to blur the axis position).
"""

from __future__ import annotations

import math

import numpy as np

#: (x, y, radius, density) of each disk, in pixels from the rotation axis
DISKS = ((0.0, 0.0, 14.0, 1.0), (6.0, -4.0, 4.0, 0.8), (-7.0, 5.0, 3.0, 1.6), (9.0, 8.0, 2.0, 2.5))


def projection(angle_deg: float, width: int, axis_offset: float, *, disks=DISKS) -> np.ndarray:
    """One row of a projection at ``angle_deg``; the axis sits ``axis_offset`` px right of centre."""
    axis = (width - 1) / 2 + axis_offset
    columns = np.arange(width, dtype=float)
    theta = math.radians(angle_deg)
    row = np.zeros(width)
    for x, y, radius, density in disks:
        centre = axis + x * math.cos(theta) + y * math.sin(theta)
        distance = columns - centre
        inside = np.abs(distance) < radius
        row[inside] += density * 2 * np.sqrt(radius**2 - distance[inside] ** 2)
    return row


def rotation_center(at_0: np.ndarray, at_180: np.ndarray) -> float:
    """The rotation axis column, from projections 180 degrees apart.

    The 180-degree projection is the 0-degree one mirrored about the axis. Mirrored again about
    the detector centre, it is the 0-degree projection shifted by twice the axis offset; the
    shift is the peak of their cross-correlation, refined to a fraction of a pixel by a parabola
    through the peak and its neighbours.
    """
    first = np.asarray(at_0, dtype=float).ravel()
    mirrored = np.asarray(at_180, dtype=float).ravel()[::-1]
    if first.shape != mirrored.shape or first.size < 3:
        raise ValueError("two projections of the same width, at least 3 pixels, are needed")
    first, mirrored = first - first.mean(), mirrored - mirrored.mean()
    correlation = np.correlate(mirrored, first, mode="full")  # peak at -2 * offset
    peak = int(np.argmax(correlation))
    shift = float(peak - (first.size - 1))
    if 0 < peak < correlation.size - 1:
        left, middle, right = correlation[peak - 1 : peak + 2]
        curvature = left - 2 * middle + right
        if curvature != 0:
            shift += 0.5 * (left - right) / curvature
    return (first.size - 1) / 2 - shift / 2
