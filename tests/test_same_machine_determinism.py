"""Same machine, same seed, same data: two independent runs give byte-identical videos and per-clip scores.

This is the zero-tolerance half of "numbers that transfer" (the cross-machine half is measured, see
``leaderboard/tolerances.py``). Each run starts in its own folder, so nothing is reused between them.
"""

import pytest

from benchmark.runner import run


@pytest.mark.parametrize("method", ["exo-copy", "reproject", "exo2egosyn"])
def test_two_runs_are_byte_identical(method, tiny_synth, tmp_path):
    folders = []
    for name in ("first", "second"):
        report = run(method, root=tiny_synth, out=tmp_path / name, limit=2, progress=False)
        assert not report.failed
        folders.append(report.out_dir)
    a, b = folders
    videos = sorted(p.name for p in (a / "videos").iterdir())
    assert videos == sorted(p.name for p in (b / "videos").iterdir()) and len(videos) == 2
    for name in videos:
        assert (a / "videos" / name).read_bytes() == (b / "videos" / name).read_bytes(), name
    assert (a / "per_clip.csv").read_bytes() == (b / "per_clip.csv").read_bytes()


def test_another_seed_changes_a_neural_generator_output(tiny_synth, tmp_path):
    """The check above could pass by accident if the seed did nothing; it does something."""
    a = run("exo2egosyn", root=tiny_synth, out=tmp_path / "s0", limit=1, progress=False).out_dir
    b = run("exo2egosyn", root=tiny_synth, out=tmp_path / "s1", limit=1, seed=1, progress=False).out_dir
    name = next((a / "videos").iterdir()).name
    assert (a / "videos" / name).read_bytes() != (b / "videos" / name).read_bytes()
