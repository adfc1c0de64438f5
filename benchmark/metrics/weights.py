"""The weight files each metric needs: where they are looked up, where they come from, how to check them.

Nothing in this module downloads anything except :func:`fetch_weights`, which only the prefetch command
(``python -m benchmark weights fetch``) calls. :func:`check` looks at files on disk and hashes them; it never
constructs a model that could reach the network.

=============  ==============================  ================================================================
metric         file                            looked up at
=============  ==============================  ================================================================
psnr, ssim     none
lpips          ``alexnet-owt-7be5be79.pth``    ``$EXOEGO_LPIPS_ALEXNET`` if set, else
               (torchvision AlexNet, ImageNet)  ``torch.hub.get_dir()/checkpoints/`` (``$TORCH_HOME/hub/...``,
                                               default ``~/.cache/torch/hub/checkpoints/``), as torchvision does
lpips          ``alex.pth`` (LPIPS v0.1 linear  shipped inside torchmetrics:
               layers)                         ``torchmetrics/functional/image/lpips_models/alex.pth``
fvd            ``i3d_pretrained_400.pt``       not computed by this harness yet (see :data:`FVD_UNAVAILABLE_REASON`)
=============  ==============================  ================================================================

Checksums are only those that can be verified from installed sources: torchvision publishes the first
8 hex digits of the AlexNet file's sha256 in its name (``7be5be79``, checked by ``torch.hub`` on download);
the LPIPS linear-layer file's full sha256 was computed from the copy shipped in torchmetrics 1.9.0, which is
byte-identical to ``lpips/weights/v0.1/alex.pth`` of the ``lpips`` 0.1.4 package.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from benchmark.atomic import default_mode

from benchmark.hashing import sha256_file

ENV_LPIPS_ALEXNET = "EXOEGO_LPIPS_ALEXNET"
ENV_WEIGHTS_MIRROR = "EXOEGO_WEIGHTS_MIRROR"  # base URL (https://... or file:///...) holding the files by name

ALEXNET_FILENAME = "alexnet-owt-7be5be79.pth"
# torchvision's AlexNet_Weights.IMAGENET1K_V1 (a test checks that the installed torchvision agrees)
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ALEXNET_SHA256_PREFIX = "7be5be79"
LPIPS_LINEAR_SHA256 = "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0"
I3D_URL = "https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt"  # as in cd-fvd's source

FVD_MIN_CLIPS = 256
FVD_UNAVAILABLE_REASON = (
    "FVD is not computed by this harness yet. When it is added (through cd-fvd) it needs at least "
    f"{FVD_MIN_CLIPS} clips of equal length (fewer make the Frechet distance meaningless), a seeded "
    "clip-sampling rule, and the I3D weights i3d_pretrained_400.pt (cd-fvd looks for them in its package "
    f"directory cdfvd/third_party/i3d/ and otherwise downloads {I3D_URL}; no checksum is published)."
)

METRICS_WITHOUT_WEIGHTS = ("psnr", "ssim")
METRICS_NEEDING_WEIGHTS = ("lpips", "fvd")


class WeightsUnavailableError(RuntimeError):
    """A metric's weights are missing or do not match their published checksum; the message says how to fix it."""


class WeightsFetchError(RuntimeError):
    """``fetch_weights`` could not obtain a file; the message gives the URL, the target path and what to do."""


@dataclass(frozen=True)
class WeightFile:
    """One file a metric needs. ``sha256`` is a full digest, ``sha256_prefix`` a published prefix."""

    key: str
    metric: str
    description: str
    filename: str
    lookup: str  # where it is looked up, in words
    url: Optional[str] = None
    sha256: Optional[str] = None
    sha256_prefix: Optional[str] = None
    env_var: Optional[str] = None
    shipped: bool = False  # installed with a Python package, never downloaded

    def default_path(self) -> Path:
        if self.key == "lpips.alexnet":
            return Path(torch.hub.get_dir()) / "checkpoints" / self.filename
        if self.key == "lpips.linear":
            import torchmetrics

            return Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / self.filename
        if self.key == "fvd.i3d":
            import importlib.util

            spec = importlib.util.find_spec("cdfvd")
            root = Path(spec.origin).parent if spec and spec.origin else Path("cdfvd")
            return root / "third_party" / "i3d" / self.filename
        raise KeyError(self.key)

    def path(self) -> Path:
        """The file that will be used: the env-var override if set, else the default location."""
        if self.env_var and os.environ.get(self.env_var):
            return Path(os.environ[self.env_var]).expanduser()
        return self.default_path()

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "metric": self.metric,
            "description": self.description,
            "filename": self.filename,
            "lookup": self.lookup,
            "path": str(self.path()),
            "url": self.url,
            "sha256": self.sha256,
            "sha256_prefix": self.sha256_prefix,
            "env_var": self.env_var,
            "shipped": self.shipped,
        }


MANIFEST: dict[str, tuple[WeightFile, ...]] = {
    "psnr": (),
    "ssim": (),
    "lpips": (
        WeightFile(
            key="lpips.alexnet",
            metric="lpips",
            description="torchvision AlexNet ImageNet weights (IMAGENET1K_V1), the LPIPS backbone",
            filename=ALEXNET_FILENAME,
            lookup=f"${ENV_LPIPS_ALEXNET} if set, else torch.hub.get_dir()/checkpoints/ (honours $TORCH_HOME)",
            url=ALEXNET_URL,
            sha256_prefix=ALEXNET_SHA256_PREFIX,
            env_var=ENV_LPIPS_ALEXNET,
        ),
        WeightFile(
            key="lpips.linear",
            metric="lpips",
            description="LPIPS v0.1 linear layers for AlexNet (Zhang et al. 2018), shipped inside torchmetrics",
            filename="alex.pth",
            lookup="torchmetrics/functional/image/lpips_models/ (installed package)",
            sha256=LPIPS_LINEAR_SHA256,
            shipped=True,
        ),
    ),
    "fvd": (
        WeightFile(
            key="fvd.i3d",
            metric="fvd",
            description="I3D (Kinetics-400) feature extractor used by cd-fvd",
            filename="i3d_pretrained_400.pt",
            lookup="cdfvd/third_party/i3d/ (installed package)",
            url=I3D_URL,
        ),
    ),
}

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file, cached by (path, size, mtime)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = sha256_file(path)
    return _HASH_CACHE[key]


def _checksum_problem(wf: WeightFile, path: Path) -> Optional[str]:
    """None if the file matches its published checksum (or none is published), else a description."""
    if wf.sha256 is None and wf.sha256_prefix is None:
        return None
    digest = file_sha256(path)
    if wf.sha256 is not None and digest != wf.sha256:
        return f"{path} has sha256 {digest}, expected {wf.sha256}"
    if wf.sha256_prefix is not None and not digest.startswith(wf.sha256_prefix):
        return f"{path} has sha256 {digest}, expected one starting with {wf.sha256_prefix} (published in the file name)"
    return None


def how_to_get(wf: WeightFile) -> str:
    """One sentence telling a user how to put ``wf`` where it is looked up."""
    if wf.shipped:
        return f"it ships with the installed package; reinstall it (expected at {wf.default_path()})"
    parts = [
        f"run `python -m benchmark weights fetch` on a machine with internet, or download {wf.url} "
        f"to {wf.default_path()}"
    ]
    if wf.sha256_prefix:
        parts.append(f"(its sha256 starts with {wf.sha256_prefix})")
    if wf.env_var:
        parts.append(f"or point {wf.env_var} at a local copy of {wf.filename}")
    return " ".join(parts)


def check(metric_name: str, *, verify_checksum: bool = True) -> tuple[bool, str]:
    """Whether ``metric_name`` can be computed from files on this machine, and why (or why not).

    Never downloads and never builds a network: it only looks at (and hashes) files. With
    ``verify_checksum=False`` a present file is accepted even if it differs from the published weights (useful
    for tests with locally generated weights; numbers are then not comparable with anyone else's).
    """
    if metric_name in METRICS_WITHOUT_WEIGHTS:
        return True, "no weights needed"
    if metric_name == "fvd":
        return False, FVD_UNAVAILABLE_REASON
    if metric_name not in MANIFEST:
        raise ValueError(f"unknown metric {metric_name!r}; known: {sorted(MANIFEST)}")
    notes = []
    for wf in MANIFEST[metric_name]:
        path = wf.path()
        if not path.is_file():
            overridden = wf.env_var and os.environ.get(wf.env_var)
            where = f"{wf.env_var}={path}" if overridden else str(path)
            return False, (
                f"{metric_name} needs {wf.description}, file {wf.filename}, not found at {where}; "
                f"to get it, {how_to_get(wf)}"
            )
        if verify_checksum:
            problem = _checksum_problem(wf, path)
            if problem:
                return False, (
                    f"{metric_name}: {wf.filename} does not match the published weights: {problem}; "
                    f"replace it ({how_to_get(wf)}), or score with it anyway by turning checksum verification off "
                    "(the numbers are then not comparable)"
                )
        notes.append(f"{wf.filename} at {path}")
    return True, "found " + ", ".join(notes) + ("" if verify_checksum else " (checksums not verified)")


def describe(metric_name: str, *, verify_checksum: bool = True) -> list[dict]:
    """The manifest entries of a metric with the resolved path, whether it exists and its sha256 if it does."""
    rows = []
    for wf in MANIFEST.get(metric_name, ()):
        row = wf.as_dict()
        path = wf.path()
        row["exists"] = path.is_file()
        row["file_sha256"] = file_sha256(path) if row["exists"] else None
        row["matches_published"] = (
            None if not row["exists"] or (wf.sha256 is None and wf.sha256_prefix is None)
            else _checksum_problem(wf, path) is None
        )
        rows.append(row)
    return rows


def load_alexnet_features(path: Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision AlexNet state dict, loaded with ``weights_only=True``."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise WeightsUnavailableError(
            f"{path} holds no 'features.*' tensors; expected a torchvision AlexNet state dict"
        )
    return features


def load_lpips_network(device: str | torch.device = "cpu", *, verify_checksum: bool = True) -> torch.nn.Module:
    """torchmetrics' LPIPS network (AlexNet, v0.1 linear layers) built from local files only.

    torchmetrics' own constructor would ask torchvision for the pretrained AlexNet, which downloads when the
    file is missing. Here the network is built with a randomly initialised backbone (no download; the global
    RNG state is left untouched) and the backbone is then overwritten from the checked local file, so the
    result is the same network torchmetrics builds when the file is in the torch hub cache.
    Raises :class:`WeightsUnavailableError` with the reason when a file is missing or does not match.
    """
    ok, reason = check("lpips", verify_checksum=verify_checksum)
    if not ok:
        raise WeightsUnavailableError(reason)
    from torchmetrics.functional.image.lpips import _NoTrainLpips  # private: pinned by the equality test

    alexnet_file, linear_file = (wf.path() for wf in MANIFEST["lpips"])
    with torch.random.fork_rng(devices=[]):
        net = _NoTrainLpips(net="alex", pretrained=True, pnet_rand=True, model_path=str(linear_file))
    features = load_alexnet_features(alexnet_file)
    # torchmetrics splits AlexNet's `features` into slice1..slice5 keeping the original child indices.
    renamed = {}
    for slice_name, block in net.net.named_children():
        for child_name, _ in block.named_children():
            for param in ("weight", "bias"):
                src = f"features.{child_name}.{param}"
                if src in features:
                    renamed[f"{slice_name}.{child_name}.{param}"] = features[src]
    try:
        net.net.load_state_dict(renamed, strict=True)
    except RuntimeError as err:
        raise WeightsUnavailableError(f"{alexnet_file} is not a torchvision AlexNet state dict: {err}") from err
    return net.eval().to(device)


def fetch_weights(metric_names=("lpips",), *, progress: bool = True) -> list[str]:
    """Download the missing weight files of ``metric_names`` to where :func:`check` looks; verify checksums.

    Files already present and matching are left alone (an existing torch hub cache is reused); a present file
    that does not match is never overwritten (an error says so). ``$EXOEGO_WEIGHTS_MIRROR`` replaces the
    download base URL (``https://...`` or ``file:///...``; files are fetched by name). Returns one line per
    file; raises :class:`WeightsFetchError` with the URL, the target path and what to do instead on failure.
    """
    messages = []
    for metric in metric_names:
        if metric not in MANIFEST:
            raise ValueError(f"unknown metric {metric!r}; known: {sorted(MANIFEST)}")
        if metric == "fvd":
            messages.append("fvd: not computed by this harness yet; nothing fetched")
            continue
        for wf in MANIFEST[metric]:
            dst = wf.path()
            if dst.is_file():
                problem = _checksum_problem(wf, dst)
                if problem:
                    raise WeightsFetchError(
                        f"{wf.filename}: a file is already at {dst} but does not match the published weights "
                        f"({problem}); not overwriting it: delete it and run the fetch again"
                    )
                messages.append(f"{metric}: {wf.filename} present at {dst}")
                continue
            if wf.shipped or not wf.url:
                raise WeightsFetchError(f"{metric}: {wf.filename} missing at {dst}; {how_to_get(wf)}")
            mirror = os.environ.get(ENV_WEIGHTS_MIRROR)
            url = f"{mirror.rstrip('/')}/{wf.filename}" if mirror else wf.url
            _download(wf, url, dst, progress=progress)
            messages.append(f"{metric}: downloaded {url} to {dst}")
    return messages


def _download(wf: WeightFile, url: str, dst: Path, *, progress: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{wf.filename}.", suffix=".partial", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # torch.hub checks the sha256 prefix and raises before anything reaches ``dst``.
        torch.hub.download_url_to_file(url, str(tmp), hash_prefix=wf.sha256_prefix, progress=progress)
        problem = _checksum_problem(wf, tmp)
        if problem:
            raise RuntimeError(problem)
        os.chmod(tmp, default_mode())  # mkstemp makes 0600; a team's shared cache must stay readable
        os.replace(tmp, dst)
    except Exception as err:  # network errors come in many types; all end the same way
        raise WeightsFetchError(
            f"could not fetch {wf.filename} from {url} to {dst}: {type(err).__name__}: {err}. "
            f"On a machine with internet run `python -m benchmark weights fetch`, or download {wf.url} yourself "
            f"and copy it to {dst}" + (f" (or set {wf.env_var} to its path)" if wf.env_var else "")
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
