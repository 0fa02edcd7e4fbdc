"""Geometry as clTEM builds it: zone axis onto +z, small tilts, a W x W x D cut, vacuum padding.

The zone axis [u v w] is the real-space direction u a + v b + w c. It is turned onto +z by the
minimal (Rodrigues) rotation; tilts follow about x, then y, then z. Unit cells are tiled to cover
the box and atoms outside it are dropped (no periodic wrap). The crystal is padded with 8 A of
vacuum on every lateral side and 3 A before and after it along the beam, and the pixel size is
(W + 16 A) / 512. A supercell is refused before it is tiled if it would hold more than
:data:`MAX_ATOMS` atoms.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from wemd.errors import WEMDError
from wemd.simulation.cif import Crystal, sample_occupancy
from wemd.simulation.multislice import Atoms

LATERAL_PADDING = 8.0  # Angstrom, each side
DEPTH_PADDING = 3.0  # Angstrom, entrance and exit
GRID_SIZE = 512
#: Unit cells examined per block while tiling (bounds memory for 100 nm deep boxes).
BLOCK_CELLS = 500_000
#: Most atoms a supercell may hold. The protocol's largest box is under 10 x 10 x 100 nm
#: (1e7 cubic Angstrom); at the screen's top density (``DENSITY_RANGE``: 0.35 per cubic
#: Angstrom, twice diamond's 0.176) that is 3.5 M atoms. 4 M leaves margin and bounds memory
#: (~130 MB of coordinates); only boxes enlarged by protocol overrides can exceed it.
MAX_ATOMS = 4_000_000


class SpecimenTooLargeError(WEMDError, ValueError):
    """A supercell that would hold more than :data:`MAX_ATOMS` atoms."""


def check_specimen_size(crystal: Crystal, width: float, depth: float) -> None:
    """Raise :class:`SpecimenTooLargeError` if a ``width`` x ``width`` x ``depth`` (Angstrom) cut
    of ``crystal`` would hold more than :data:`MAX_ATOMS` atoms (expected count)."""
    expected = crystal.atoms_per_cell / crystal.volume * width * width * depth
    if not expected <= MAX_ATOMS:
        raise SpecimenTooLargeError(
            f"{crystal.name}: a {width / 10:.3g} x {width / 10:.3g} x {depth / 10:.3g} nm box would "
            f"hold ~{expected:,.0f} atoms, over the atom limit of {MAX_ATOMS:,} "
            "(wemd.simulation.geometry.MAX_ATOMS); draw smaller boxes (width_nm, depth_nm)")


def pixel_size(width: float, n: int = GRID_SIZE, padding: float = LATERAL_PADDING) -> float:
    """Angstrom per pixel for a crystal ``width`` Angstrom wide: (W + 2 * padding) / n."""
    return (width + 2 * padding) / n


def rotation_onto_z(direction: Sequence[float]) -> np.ndarray:
    """The minimal rotation (Rodrigues) taking ``direction`` onto +z."""
    u = np.asarray(direction, dtype=np.float64)
    norm = np.linalg.norm(u)
    if norm == 0:
        raise ValueError("zone axis (0, 0, 0) has no direction")
    u = u / norm
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(u, z)
    s, c = np.linalg.norm(axis), float(u @ z)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])  # half turn about x
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def tilt_rotation(tilts_deg: Sequence[float]) -> np.ndarray:
    """Rotation by tilts (degrees) about x, then y, then z."""
    ax, ay, az = np.radians(np.asarray(tilts_deg, dtype=np.float64))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def orientation(cell: np.ndarray, zone: Sequence[int], tilts_deg: Sequence[float]) -> np.ndarray:
    """Rotation taking crystal Cartesian coordinates to the beam frame (beam along +z)."""
    direction = np.asarray(zone, dtype=np.float64) @ cell  # u a + v b + w c
    return tilt_rotation(tilts_deg) @ rotation_onto_z(direction)


def build_specimen(crystal: Crystal, zone: Sequence[int], tilts_deg: Sequence[float],
                   width: float, depth: float, rng: np.random.Generator,
                   slice_thickness: float = 1.0) -> Atoms:
    """Atoms of a ``width`` x ``width`` x ``depth`` (Angstrom) cut of the oriented crystal, padded.

    Mixed-occupancy sites are drawn independently for every tiled copy. The box depth is rounded
    up to whole slices. Refuses boxes over :data:`MAX_ATOMS` atoms before tiling.
    """
    check_specimen_size(crystal, width, depth)
    rot = orientation(crystal.cell, zone, tilts_deg)
    half = np.array([width / 2, width / 2, depth / 2])
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half
    # beam frame -> crystal Cartesian -> fractional, to find the unit cells that cover the box
    frac_corners = corners @ rot @ np.linalg.inv(crystal.cell)
    lo = np.floor(frac_corners.min(axis=0)).astype(int) - 1
    hi = np.ceil(frac_corners.max(axis=0)).astype(int) + 1
    n_sites = len(crystal.fractional)
    lattice = crystal.cell @ rot.T  # a, b, c in the beam frame
    sites = crystal.fractional @ lattice
    centre = 0.5 * lattice.sum(axis=0)
    # a unit cell can only contribute if its centre lies within its circumradius of the box
    radius = max(np.linalg.norm(sites - centre, axis=1).max(), 1e-9)
    ia, ib = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    ab = ia.ravel()[:, None] * lattice[0] + ib.ravel()[:, None] * lattice[1]
    step = max(1, BLOCK_CELLS // len(ab))
    positions, numbers = [], []
    for c0 in range(lo[2], hi[2] + 1, step):  # tile the c index in blocks to bound memory
        ic = np.arange(c0, min(c0 + step, hi[2] + 1), dtype=np.float64)
        origin = ab[None, :, :] + ic[:, None, None] * lattice[2]
        origin = origin[np.all(np.abs(origin + centre) <= half + radius, axis=-1)]
        beam = (origin[:, None, :] + sites[None, :, :]).reshape(-1, 3)
        inside = np.all(np.abs(beam) <= half, axis=1)
        site_index = np.tile(np.arange(n_sites), len(origin))[inside]
        z = sample_occupancy(crystal, site_index, rng)
        positions.append(beam[inside][z > 0])
        numbers.append(z[z > 0])
    pos = np.concatenate(positions) + half + np.array([LATERAL_PADDING, LATERAL_PADDING,
                                                       DEPTH_PADDING])
    extent = width + 2 * LATERAL_PADDING
    box_depth = np.ceil((depth + 2 * DEPTH_PADDING) / slice_thickness) * slice_thickness
    return Atoms(pos, np.concatenate(numbers), (extent, extent, float(box_depth)))
