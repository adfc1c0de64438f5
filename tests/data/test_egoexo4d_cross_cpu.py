"""The same Ego-Exo4D download converts to the same content identity on another CPU: numpy without AVX-512 /
AVX2 / FMA, OpenBLAS's oldest kernel, PyTorch's default kernels and OpenCV without its dispatched SIMD paths,
simulated on this machine. Only the converter runs under the other settings; the download is written once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmark.data.egoexo4d.fixture import write_fixture

pytestmark = pytest.mark.slow

OTHER_CPU = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512CD AVX512_SKX AVX512_CLX "
                                         "AVX512_CNL AVX2 FMA3 X86_V3",
             "OPENBLAS_CORETYPE": "Prescott", "ATEN_CPU_CAPABILITY": "default",
             # OpenCV's names (cv2.getCPUFeaturesLine marks the disabled ones with '?')
             "OPENCV_CPU_DISABLE": "AVX512-SKX,AVX2,FMA3,AVX,FP16,SSE4.2,SSE4.1,POPCNT,SSSE3",
             "OMP_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}


def _build(root, out, env_extra):
    env = {**os.environ, **env_extra}
    r = subprocess.run([sys.executable, "-m", "benchmark", "data", "build", "exoego4d", "--root", str(root), "--out",
                        str(out)], capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads((out / "manifest.json").read_text())


def test_conversion_gives_the_same_identities_on_a_simulated_other_cpu(tmp_path):
    truth = write_fixture(tmp_path / "egoexo", n_takes=3, n_frames=69, supersample=1)
    here = _build(truth.root, tmp_path / "here", {})
    other = _build(truth.root, tmp_path / "other", OTHER_CPU)
    assert here["protocol_manifest_identity"] == other["protocol_manifest_identity"]
    assert here["splits"].keys() == other["splits"].keys() and here["splits"]
    for split, entry in here["splits"].items():
        assert entry["identity"] == other["splits"][split]["identity"], split
        assert entry["clip_sha256"] == other["splits"][split]["clip_sha256"], split
