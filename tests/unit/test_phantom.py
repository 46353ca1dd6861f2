"""The simulated camera's projections and the rotation-center estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cora_bluesky.sim.phantom import DISKS, projection, rotation_center


@given(st.floats(min_value=-12, max_value=12, allow_nan=False), st.sampled_from([64, 96, 128]))
def test_the_axis_is_recovered_within_half_a_pixel(offset, width):
    center = rotation_center(projection(0, width, offset), projection(180, width, offset))
    assert abs(center - ((width - 1) / 2 + offset)) < 0.5


@given(st.floats(min_value=0, max_value=360, allow_nan=False), st.floats(min_value=-8, max_value=8, allow_nan=False))
def test_a_projection_keeps_the_phantom_mass_at_every_angle(angle, offset):
    mass = sum(density * math.pi * radius**2 for _, _, radius, density in DISKS)
    # chords sampled at whole pixels: small disks lose or gain a little with their sub-pixel place
    assert projection(angle, 128, offset).sum() == pytest.approx(mass, rel=0.03)


def test_opposite_projections_mirror_about_the_axis():
    first, second = projection(30, 97, 0), projection(210, 97, 0)
    assert np.allclose(first, second[::-1])


def test_mismatched_projections_are_refused():
    with pytest.raises(ValueError):
        rotation_center(np.ones(10), np.ones(11))
