"""A build is compared with the committed manifest of its setting: the same download reproduces it exactly, and
any difference (a missing, extra or changed clip) is reported with the clip ids, never hidden."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import pytest

from benchmark.data.egoexo4d import protocol as P
from benchmark.data.egoexo4d.committed import committed_path, compare_with_committed, summary_line
from benchmark.data.egoexo4d.convert import PROTOCOL_MANIFEST, build_exoego4d
from benchmark.data.egoexo4d.fixture import write_fixture

# The fixture download (5 takes, seed 0, 69 frames) always gives this manifest: its rows hold ints and strings
# only (clip ids, take uids, frames, camera ids), so the identity is the same on every machine. A change here
# is a change of which clips the protocol picks from the same download: a new protocol version.
FIXTURE_MANIFEST_IDENTITY = "13a108a99edfe987145eb15edeca2effd424274346816667b7c0b03d2c0a33e8"


def test_without_a_committed_manifest_the_report_says_so(tmp_path):
    check = compare_with_committed([], "unseen-takes", ["cpr"], directory=tmp_path)
    assert check["committed"] is False and "no manifest committed for protocol 1.0" in check["note"]
    assert summary_line(check).startswith("manifest: no manifest committed")
    assert summary_line(None) is None


@pytest.mark.slow
class TestWithTheFixture:
    @pytest.fixture(scope="class")
    def built(self, tmp_path_factory):
        base = tmp_path_factory.mktemp("committed")
        truth = write_fixture(base / "egoexo", n_takes=5, n_frames=69, supersample=1)
        out, report = build_exoego4d(truth.root, base / "out", progress=False)
        return truth, out, report

    def test_the_fixture_download_gives_the_pinned_manifest(self, built):
        _, out, report = built
        rows = P.read_manifest(out / PROTOCOL_MANIFEST)
        assert report["protocol_manifest_identity"] == P.manifest_identity(rows)
        assert len(rows) == 5 and {r.split for r in rows} == {"train", "val", "test"}
        assert P.manifest_identity(rows) == FIXTURE_MANIFEST_IDENTITY

    def test_the_package_has_no_manifest_for_protocol_1_yet_and_the_build_says_so(self, built):
        _, out, report = built
        assert report["committed_manifest"]["committed"] is False
        assert not committed_path("unseen-takes").exists()

    def test_a_rebuild_reproduces_the_committed_manifest(self, built, tmp_path):
        truth, out, _ = built
        committed = committed_path("unseen-takes", directory=tmp_path / "manifests")
        committed.parent.mkdir(parents=True)
        shutil.copy(out / PROTOCOL_MANIFEST, committed)
        r = subprocess.run([sys.executable, "-c", (
            "import json, sys; from benchmark.data.egoexo4d.convert import build_exoego4d; "
            "from benchmark.data.egoexo4d.committed import summary_line; "
            "_, rep = build_exoego4d(sys.argv[1], sys.argv[2], progress=False, committed_manifests=sys.argv[3]); "
            "print(json.dumps(rep['committed_manifest'])); print(summary_line(rep['committed_manifest']))"),
            str(truth.root), str(tmp_path / "again"), str(tmp_path / "manifests")],
            capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        check = json.loads(r.stdout.splitlines()[0])
        assert check["matches"] and check["n_committed"] == check["n_built"] == 5
        assert check["n_missing"] == check["n_extra"] == check["n_changed"] == 0
        assert "reproduces the committed manifest (5 clips" in r.stdout

    def test_a_subset_of_categories_is_compared_with_the_committed_rows_of_those_categories(self, built, tmp_path):
        _, out, _ = built
        rows = P.read_manifest(out / PROTOCOL_MANIFEST)
        committed = committed_path("unseen-takes", directory=tmp_path)
        committed.parent.mkdir(parents=True)
        P.write_manifest(committed, rows)
        some = [r for r in rows if r.category == "cpr"]
        check = compare_with_committed(some, "unseen-takes", ["cpr"], directory=tmp_path)
        assert check["matches"] and check["n_committed"] == len(some) == 1

    def test_every_kind_of_difference_is_reported_with_its_clip_ids(self, built, tmp_path):
        _, out, _ = built
        rows = P.read_manifest(out / PROTOCOL_MANIFEST)
        cats = sorted({r.category for r in rows})
        moved = dataclasses.replace(rows[0], start_frame=rows[0].start_frame + 4)
        committed_rows = [moved, *rows[2:]]  # rows[0] changed, rows[1] missing from the committed file
        extra = dataclasses.replace(rows[2], clip_id=P.clip_id(rows[2].take_uid, 400), start_frame=400)
        committed_rows.append(extra)
        committed = committed_path("unseen-takes", directory=tmp_path)
        committed.parent.mkdir(parents=True)
        P.write_manifest(committed, committed_rows)
        check = compare_with_committed(rows, "unseen-takes", cats, directory=tmp_path)
        assert not check["matches"]
        assert check["changed"] == [rows[0].clip_id] and check["extra"] == [rows[1].clip_id]
        assert check["missing"] == [extra.clip_id]
        assert summary_line(check).startswith("WARNING: manifest differs from the committed one")
