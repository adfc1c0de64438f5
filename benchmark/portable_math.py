r"""Elementwise maths whose last bits do not depend on the CPU.

NumPy picks SIMD kernels for ``sin``, ``cos``, ``arctan2``... at run time from the CPU's features (AVX-512
machines use vectorised approximations accurate to a few ulp), and matrix products go to OpenBLAS, whose
kernel (with or without fused multiply-add) also depends on the CPU. Values computed that way differ in
their last bits between machines, which is enough to change the bytes, and so the hash, of a stored dataset
(issue 7: the synthetic test split's parquet differed between an AVX-512 machine and one without).

The functions here give the same float64 bits on every machine with the same C maths library:

* ``sin``, ``cos``, ``tan``, ``arctan2``, ``hypot`` call the C library's scalar function (Python's
  ``math`` module) element by element; glibc's are correctly rounded for ``sin``, ``cos``, ``tan`` and
  ``atan2``, so they agree with any other correctly rounded library too.
* ``matmul(A, B)`` computes :math:`C_{ij} = \sum_k A_{ik} B_{kj}` as separate IEEE multiplies followed by
  an in-order sum over ``k`` (no BLAS, no fused multiply-add).

They are meant for small arrays (camera poses, scene scripts: tens to thousands of values), not for pixels.
Stored values are additionally rounded to a stated precision (``benchmark.data.identity``), so a
difference that survived here would still be absorbed unless it straddled a rounding boundary.
"""

from __future__ import annotations

import math

import numpy as np


def _elementwise(fn, name: str):
    ufunc = np.frompyfunc(fn, 2 if name in ("arctan2", "hypot") else 1, 1)

    def apply(*args):
        out = ufunc(*(np.asarray(a, dtype=np.float64) for a in args))
        return np.asarray(out, dtype=np.float64) if isinstance(out, np.ndarray) else np.float64(out)

    apply.__name__ = name
    apply.__doc__ = f"``math.{fn.__name__}`` applied element by element; float64 result of the broadcast shape."
    return apply


sin = _elementwise(math.sin, "sin")
cos = _elementwise(math.cos, "cos")
tan = _elementwise(math.tan, "tan")
arctan2 = _elementwise(math.atan2, "arctan2")
hypot = _elementwise(math.hypot, "hypot")


def matmul(a, b) -> np.ndarray:
    """``a @ b`` for float64 (..., n, k) x (..., k, m) (or a (..., k) vector as ``b``) without BLAS.

    Broadcasts like ``np.matmul``. Each product is rounded on its own and the ``k`` products are summed in
    order, so the result is the same on every CPU.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 1:
        return matmul(a, b[:, None])[..., 0]
    products = a[..., :, :, None] * b[..., None, :, :]  # (..., n, k, m)
    out = products[..., 0, :]
    for k in range(1, products.shape[-2]):
        out = out + products[..., k, :]
    return out
