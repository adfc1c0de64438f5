"""The weight files each metric needs: where they come from, where they are looked up, how they are checked.

Nothing in this module touches the network except :func:`fetch_weights`, which only ``python -m benchmark weights
download`` calls. :func:`check` looks at files on disk and hashes them; it never builds a model.

====================  ============  =========================================  ===========================================
key                   metric        file                                       published checksum we can verify against
====================  ============  =========================================  ===========================================
``lpips.alexnet``     lpips         ``alexnet-owt-7be5be79.pth`` (torchvision  sha256 prefix ``7be5be79`` (in the file name,
                                    AlexNet IMAGENET1K_V1, the LPIPS backbone)  checked by ``torch.hub`` on download)
``lpips.linear``      lpips         ``alex.pth`` (LPIPS v0.1 linear layers,    full sha256, computed from the copy shipped
                                    shipped inside torchmetrics)               in torchmetrics 1.9.0 (= ``lpips`` 0.1.4's)
``lpips.vgg16``       lpips_vgg     ``vgg16-397923af.pth`` (torchvision VGG16  sha256 prefix ``397923af`` (in the file name)
                                    IMAGENET1K_V1, backbone of lpips.net=vgg)
``lpips.linear_vgg``  lpips_vgg     ``vgg.pth`` (LPIPS v0.1 linear layers for  full sha256 of torchmetrics 1.9.0's copy
                                    VGG, shipped inside torchmetrics)          (= ``lpips`` 0.1.4's)
``fvd.i3d``           fvd           ``i3d_pretrained_400.pt`` (I3D, Kinetics-  git blob sha1 of the file in songweige/TATS
                                    400; the URL cd-fvd downloads)             (commit 26c33f5, never changed since); no
                                                                               sha256 or size is published
``fvd.videomae``      fvd_videomae  ``vit_g_hybrid_pt_1200e_ssv2_ft.pth``      none: verify reports it unverified
                                    (VideoMAE-v2 ViT-g, cd-fvd's cd-FVD)
``clip_i.vit_b_32``   clip_i        folder ``clip-vit-base-patch32`` (openai   none known here: verify reports it
                                    CLIP ViT-B/32, transformers format)        unverified and records its digest
====================  ============  =========================================  ===========================================

**Variants.** A metric option that selects another network selects other files (:data:`WEIGHT_VARIANTS`):
``lpips.net=vgg`` needs the ``lpips_vgg`` files instead of the AlexNet ones, ``fvd.backbone=videomae`` the
``fvd_videomae`` file instead of I3D. :func:`check`, :func:`describe` and :func:`files_for` take the metric's
options and look at the files of the chosen variant only; without options they look at the default's.
``weights download`` without a NAME fetches the defaults only (VideoMAE-v2 ViT-g alone is several GB); a variant's
files are fetched by name (``weights download lpips_vgg``, ``weights download fvd.videomae``).

**Where a file is looked up** (:func:`locate`; the first hit wins):

1. its environment variable (``$EXOEGO_LPIPS_ALEXNET``, ``$EXOEGO_LPIPS_VGG16``, ``$EXOEGO_I3D``,
   ``$EXOEGO_VIDEOMAE``, ``$EXOEGO_CLIP``) when set: an explicit choice, so a missing file there is reported,
   never replaced by another copy;
2. a path registered with ``python -m benchmark weights register KEY PATH`` (kept in ``registered.json`` of the
   weights directory, with the file's sha256 at registration: a file changed since is reported);
3. ``<weights dir>/<file name>``, where ``download`` puts it. The weights directory is ``--cache-dir`` on the
   command line, else ``$EXOEGO_WEIGHTS_DIR``, else ``<cache>/weights`` with ``<cache>`` = ``$EXOEGO_CACHE`` or
   ``~/.cache/exoego-bench``;
4. where the library itself keeps it, so an existing cache is reused: ``torch.hub.get_dir()/checkpoints`` for
   AlexNet and VGG16 (honours ``$TORCH_HOME``), cd-fvd's package folder for I3D and VideoMAE, the Hugging Face
   hub cache for CLIP, torchmetrics' package for the LPIPS linear layers.

**Verification states** (:class:`FileStatus`): ``verified`` (matches a published checksum), ``unverified`` (present,
nothing published to compare with; its sha256 is recorded in results so two runs can still be compared),
``mismatch`` (differs from the published checksum, or from the one recorded when it was registered), ``missing``.
A metric is available when all its files are present and none mismatches (with ``verify_checksum=False``, any
present file is accepted: tests with locally built networks; the numbers are then not comparable).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import torch

from benchmark.atomic import default_mode, write_text_atomic
from benchmark.errors import UsageError
from benchmark.hashing import sha256_file

ENV_WEIGHTS_DIR = "EXOEGO_WEIGHTS_DIR"
ENV_WEIGHTS_MIRROR = "EXOEGO_WEIGHTS_MIRROR"  # base URL (https://... or file:///...) holding the files by name
ENV_LPIPS_ALEXNET = "EXOEGO_LPIPS_ALEXNET"
ENV_LPIPS_VGG16 = "EXOEGO_LPIPS_VGG16"
ENV_I3D = "EXOEGO_I3D"
ENV_VIDEOMAE = "EXOEGO_VIDEOMAE"
ENV_CLIP = "EXOEGO_CLIP"
REGISTRY_FILENAME = "registered.json"

ALEXNET_FILENAME = "alexnet-owt-7be5be79.pth"
# torchvision's AlexNet_Weights.IMAGENET1K_V1 (a test checks that the installed torchvision agrees)
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ALEXNET_SHA256_PREFIX = "7be5be79"
LPIPS_LINEAR_SHA256 = "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0"
VGG16_FILENAME = "vgg16-397923af.pth"
# torchvision's VGG16_Weights.IMAGENET1K_V1, what torchmetrics' LPIPS(net_type="vgg") loads (a test checks it)
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_SHA256_PREFIX = "397923af"
LPIPS_LINEAR_VGG_SHA256 = "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868"  # torchmetrics 1.9.0 vgg.pth
# cdfvd/third_party/i3d/utils.py load_i3d_model (a test checks that the installed cd-fvd agrees)
I3D_FILENAME = "i3d_pretrained_400.pt"
I3D_URL = "https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt"
# The file's git blob id in songweige/TATS (tree of commit 26c33f5, the only commit that touches it; read from the
# repository's tree, which names the blob even where the blob itself was not at hand): sha1(b"blob <size>\0" + bytes).
I3D_GIT_BLOB_SHA1 = "a867b87ac3a9097d200598b1d48a1b890d8ec744"
I3D_GIT_SOURCE = "songweige/TATS@26c33f5bb762f86589c0971e98d0c4565f9a7f63:tats/fvd/i3d_pretrained_400.pt"
# cdfvd/third_party/VideoMAEv2/utils.py load_videomae_model
VIDEOMAE_FILENAME = "vit_g_hybrid_pt_1200e_ssv2_ft.pth"
VIDEOMAE_URL = ("https://pjlab-gvm-data.oss-cn-shanghai.aliyuncs.com/internvideo/videomaev2/"
                "vit_g_hybrid_pt_1200e_ssv2_ft.pth")
# CLIP-I as EgoX's Table 1 is reproduced (DAVIAN-Robotics/EgoX issue #29): openai/clip-vit-base-patch32.
CLIP_REPO = "openai/clip-vit-base-patch32"
CLIP_REVISION = "main"  # no commit could be pinned offline; the folder's digest is recorded instead
CLIP_FOLDER = "clip-vit-base-patch32"
CLIP_DOWNLOAD_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")
# the files of a transformers model folder that decide its numbers (the weights file actually loaded, its config
# and the image processor's settings): a folder's digest is taken over those present
CLIP_CONFIG_FILES = ("config.json", "preprocessor_config.json")
CLIP_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

METRICS_WITHOUT_WEIGHTS = ("psnr", "ssim")
METRICS_NEEDING_WEIGHTS = ("lpips", "fvd", "clip_i")
# metric -> (its option that selects a network, {option value: the MANIFEST name of that network's files}); the
# first value is the default. Names other than the metric's own (lpips_vgg, fvd_videomae) are weights NAMEs too.
WEIGHT_VARIANTS = {
    "lpips": ("net", {"alex": "lpips", "vgg": "lpips_vgg"}),
    "fvd": ("backbone", {"i3d": "fvd", "videomae": "fvd_videomae"}),
}


class WeightsUnavailableError(RuntimeError):
    """A metric's weights are missing or do not match their published checksum; the message says how to fix it."""


class WeightsFetchError(RuntimeError):
    """``fetch_weights`` could not obtain a file; the message gives the URL, the target path and what to do."""


@dataclass(frozen=True)
class WeightFile:
    """One file (or, with ``folder=True``, one model folder) a metric needs, and everything published about it.

    ``sha256`` is a full digest, ``sha256_prefix`` a published prefix, ``git_blob_sha1`` the file's git object id
    in ``git_source``; ``size`` in bytes when published. ``None`` everywhere: nothing to verify against.
    """

    key: str
    metric: str
    description: str
    filename: str  # the file (or folder) name in the weights directory
    url: Optional[str] = None
    size: Optional[int] = None
    sha256: Optional[str] = None
    sha256_prefix: Optional[str] = None
    git_blob_sha1: Optional[str] = None
    git_source: Optional[str] = None
    env_var: Optional[str] = None
    shipped: bool = False  # installed with a Python package, never downloaded
    folder: bool = False  # a transformers model folder rather than one file
    hf_repo: Optional[str] = None

    @property
    def published(self) -> bool:
        """Whether anything was published to verify this file against."""
        return any(v is not None for v in (self.sha256, self.sha256_prefix, self.git_blob_sha1))

    def library_path(self) -> Optional[Path]:
        """Where the library this file belongs to keeps it (an existing cache), or None."""
        if self.key in ("lpips.alexnet", "lpips.vgg16"):
            return Path(torch.hub.get_dir()) / "checkpoints" / self.filename
        if self.key in ("lpips.linear", "lpips.linear_vgg"):
            import torchmetrics

            return Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / self.filename
        if self.key in ("fvd.i3d", "fvd.videomae"):
            import importlib.util

            spec = importlib.util.find_spec("cdfvd")
            if spec is None or spec.origin is None:
                return None
            sub = "i3d" if self.key == "fvd.i3d" else "VideoMAEv2"
            return Path(spec.origin).parent / "third_party" / sub / self.filename
        if self.hf_repo:
            return _hf_cache_folder(self.hf_repo)
        return None

    def as_dict(self) -> dict:
        return {"key": self.key, "metric": self.metric, "description": self.description, "filename": self.filename,
                "folder": self.folder, "url": self.url, "size": self.size, "sha256": self.sha256,
                "sha256_prefix": self.sha256_prefix, "git_blob_sha1": self.git_blob_sha1,
                "git_source": self.git_source, "env_var": self.env_var, "shipped": self.shipped}


FILES: dict[str, WeightFile] = {wf.key: wf for wf in (
    WeightFile(
        key="lpips.alexnet", metric="lpips", filename=ALEXNET_FILENAME, url=ALEXNET_URL,
        description="torchvision AlexNet ImageNet weights (IMAGENET1K_V1), the LPIPS backbone",
        sha256_prefix=ALEXNET_SHA256_PREFIX, env_var=ENV_LPIPS_ALEXNET),
    WeightFile(
        key="lpips.linear", metric="lpips", filename="alex.pth", shipped=True, sha256=LPIPS_LINEAR_SHA256,
        description="LPIPS v0.1 linear layers for AlexNet (Zhang et al. 2018), shipped inside torchmetrics"),
    WeightFile(
        key="lpips.vgg16", metric="lpips_vgg", filename=VGG16_FILENAME, url=VGG16_URL,
        description="torchvision VGG16 ImageNet weights (IMAGENET1K_V1), the LPIPS backbone of lpips.net=vgg",
        sha256_prefix=VGG16_SHA256_PREFIX, env_var=ENV_LPIPS_VGG16),
    WeightFile(
        key="lpips.linear_vgg", metric="lpips_vgg", filename="vgg.pth", shipped=True, sha256=LPIPS_LINEAR_VGG_SHA256,
        description="LPIPS v0.1 linear layers for VGG16 (Zhang et al. 2018), shipped inside torchmetrics"),
    WeightFile(
        key="fvd.i3d", metric="fvd", filename=I3D_FILENAME, url=I3D_URL, env_var=ENV_I3D,
        description="I3D (Kinetics-400) feature extractor of cd-fvd, as in TATS / StyleGAN-V",
        git_blob_sha1=I3D_GIT_BLOB_SHA1, git_source=I3D_GIT_SOURCE),
    WeightFile(
        key="fvd.videomae", metric="fvd_videomae", filename=VIDEOMAE_FILENAME, url=VIDEOMAE_URL, env_var=ENV_VIDEOMAE,
        description="VideoMAE-v2 ViT-g (SSv2 fine-tuned) feature extractor of cd-fvd (content-debiased FVD)"),
    WeightFile(
        key="clip_i.vit_b_32", metric="clip_i", filename=CLIP_FOLDER, folder=True, env_var=ENV_CLIP,
        url=f"https://huggingface.co/{CLIP_REPO}/resolve/{CLIP_REVISION}", hf_repo=CLIP_REPO,
        description=f"CLIP ViT-B/32 image encoder ({CLIP_REPO}, a transformers model folder), as peers report CLIP-I"),
)}

MANIFEST: dict[str, tuple[WeightFile, ...]] = {"psnr": (), "ssim": ()}
for _wf in FILES.values():
    MANIFEST[_wf.metric] = MANIFEST.get(_wf.metric, ()) + (_wf,)


# ---- the weights directory and the registry ------------------------------------------------------------------


def weights_dir(cache_dir=None) -> Path:
    """``cache_dir`` if given, else ``$EXOEGO_WEIGHTS_DIR``, else ``<$EXOEGO_CACHE or ~/.cache/exoego-bench>/weights``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_WEIGHTS_DIR):
        return Path(os.environ[ENV_WEIGHTS_DIR]).expanduser()
    from benchmark.data.loading import default_cache_dir

    return default_cache_dir() / "weights"


def _registry_path(cache_dir=None) -> Path:
    return weights_dir(cache_dir) / REGISTRY_FILENAME


def registered(cache_dir=None) -> dict:
    """``{key: {"path", "sha256", "registered"}}`` from the weights directory's ``registered.json`` ({} if none)."""
    path = _registry_path(cache_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise UsageError(f"{path} is not a weights registry (JSON object expected): {err}; delete it and register "
                         "the files again") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a weights registry (JSON object expected); delete it and register again")
    return data


def resolve_key(name: str) -> list[WeightFile]:
    """The files a command-line NAME means: a key (``fvd.i3d``), a metric (``fvd``: all its files) or a key's
    last part (``i3d``). Anything else is a :class:`UsageError` listing the names."""
    if name in FILES:
        return [FILES[name]]
    if name in MANIFEST and MANIFEST[name]:
        return list(MANIFEST[name])
    by_tail = [wf for wf in FILES.values() if wf.key.split(".", 1)[1] == name]
    if len(by_tail) == 1:
        return by_tail
    known = ", ".join([*FILES, *(m for m in MANIFEST if MANIFEST[m])])
    raise UsageError(f"unknown weights name {name!r}; known: {known}")


# ---- locating and checking files -----------------------------------------------------------------------------


@dataclass
class FileStatus:
    """What :func:`file_status` found for one :class:`WeightFile`.

    ``state``: ``verified`` | ``unverified`` | ``mismatch`` | ``missing``; ``source``: how ``path`` was chosen
    (``env`` | ``registered`` | ``cache`` | ``library`` | ``given``); ``sha256`` of the file (for a folder: of
    its digest lines, see :func:`folder_digest`); ``detail``: one sentence on the state.
    """

    wf: WeightFile
    path: Optional[Path]
    source: str
    state: str
    detail: str
    sha256: Optional[str] = None
    size: Optional[int] = None
    looked_at: tuple = ()

    @property
    def usable(self) -> bool:
        return self.state in ("verified", "unverified")

    def as_dict(self) -> dict:
        return {"key": self.wf.key, "filename": self.wf.filename, "path": None if self.path is None else str(self.path),
                "source": self.source, "state": self.state, "detail": self.detail, "file_sha256": self.sha256,
                "size": self.size, "published_sha256": self.wf.sha256, "sha256_prefix": self.wf.sha256_prefix,
                "git_blob_sha1": self.wf.git_blob_sha1, "url": self.wf.url,
                "matches_published": None if not self.wf.published or self.state == "missing"
                else self.state == "verified"}


def locate(wf: WeightFile, cache_dir=None) -> tuple[Optional[Path], str, tuple]:
    """``(path, source, looked_at)``: the copy of ``wf`` that would be used (None if none exists) and where
    :func:`locate` looked, in the order of the module docstring."""
    looked = []
    if wf.env_var and os.environ.get(wf.env_var):
        path = Path(os.environ[wf.env_var]).expanduser()
        return (path if _exists(wf, path) else None), "env", (f"{wf.env_var}={path}",)
    entry = registered(cache_dir).get(wf.key)
    if entry:
        path = Path(entry["path"])
        return (path if _exists(wf, path) else None), "registered", (f"{path} (registered)",)
    candidates = [(weights_dir(cache_dir) / wf.filename, "cache")]
    library = wf.library_path()
    if library is not None:
        candidates.append((library, "library"))
    for path, source in candidates:
        looked.append(str(path))
        if _exists(wf, path):
            return path, source, tuple(looked)
    return None, "cache", tuple(looked)


def _exists(wf: WeightFile, path: Path) -> bool:
    return path.is_dir() if wf.folder else path.is_file()


def _hf_cache_folder(repo_id: str) -> Optional[Path]:
    """The snapshot folder of ``repo_id`` in the Hugging Face hub cache when its config.json is there (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    # read the variables now (huggingface_hub reads them once, at import), so a changed environment is honoured
    hub = os.environ.get("HF_HUB_CACHE") or (os.environ.get("HF_HOME") and os.path.join(os.environ["HF_HOME"], "hub"))
    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=hub or None)
    return Path(found).parent if isinstance(found, str) else None


_HASH_CACHE: dict[tuple[str, str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file, cached by (path, size, mtime)."""
    return _cached_digest("sha256", Path(path), sha256_file)


def git_blob_sha1(path: Path) -> str:
    """The git object id of a file's bytes: sha1 of ``b"blob <size>\\0"`` followed by the bytes."""

    def compute(p: Path) -> str:
        h = hashlib.sha1(f"blob {p.stat().st_size}\0".encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    return _cached_digest("git-blob-sha1", Path(path), compute)


def _cached_digest(kind: str, path: Path, compute) -> str:
    st = path.stat()
    key = (kind, str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = compute(path)
    return _HASH_CACHE[key]


def folder_files(folder: Path) -> list[Path]:
    """The files of a transformers model folder that decide its numbers: config, processor config and the weights
    file transformers loads (``model.safetensors``, else ``pytorch_model.bin``)."""
    files = [folder / name for name in CLIP_CONFIG_FILES if (folder / name).is_file()]
    weights_file = next((folder / n for n in CLIP_WEIGHT_FILES if (folder / n).is_file()), None)
    return files + ([weights_file] if weights_file is not None else [])


def folder_digest(folder: Path) -> str:
    """sha256 of the lines ``"<name>\\t<sha256 of the file>\\n"`` over :func:`folder_files`, in that order."""
    lines = "".join(f"{p.name}\t{file_sha256(p)}\n" for p in folder_files(folder))
    return hashlib.sha256(lines.encode()).hexdigest()


def _folder_problem(folder: Path) -> Optional[str]:
    names = {p.name for p in folder_files(folder)}
    if "config.json" not in names:
        return f"{folder} has no config.json; expected a transformers model folder (save_pretrained)"
    if not names & set(CLIP_WEIGHT_FILES):
        return f"{folder} holds no weights file ({' or '.join(CLIP_WEIGHT_FILES)})"
    return None


def file_status(wf: WeightFile, cache_dir=None, *, path=None) -> FileStatus:
    """Locate ``wf`` (or take the given ``path``), hash it and compare with what is published about it."""
    if path is not None:
        path, source, looked = Path(path).expanduser(), "given", (str(path),)
        if not _exists(wf, path):
            path = None
    else:
        path, source, looked = locate(wf, cache_dir)
    if path is None:
        where = " or ".join(looked)
        return FileStatus(wf, None, source, "missing", f"not found at {where}", looked_at=looked)
    if wf.folder:
        problem = _folder_problem(path)
        if problem:
            return FileStatus(wf, path, source, "mismatch", problem, looked_at=looked)
        digest = folder_digest(path)
        size = sum(p.stat().st_size for p in folder_files(path))
    else:
        digest, size = file_sha256(path), path.stat().st_size
    status = FileStatus(wf, path, source, "unverified", "", digest, size, looked)
    problems = []
    if wf.size is not None and size != wf.size:
        problems.append(f"size {size} bytes, expected {wf.size}")
    if wf.sha256 is not None and digest != wf.sha256:
        problems.append(f"sha256 {digest}, expected {wf.sha256}")
    if wf.sha256_prefix is not None and not digest.startswith(wf.sha256_prefix):
        problems.append(f"sha256 {digest}, expected one starting with {wf.sha256_prefix} (published in the file name)")
    if wf.git_blob_sha1 is not None:
        blob = git_blob_sha1(path)
        if blob != wf.git_blob_sha1:
            problems.append(f"git blob sha1 {blob}, expected {wf.git_blob_sha1} (the file in {wf.git_source})")
    if source == "registered":
        recorded = registered(cache_dir)[wf.key].get("sha256")
        if recorded and recorded != digest:
            problems.append(f"sha256 {digest}, but {recorded} when it was registered (the file changed since)")
    if problems:
        status.state, status.detail = "mismatch", f"{path}: " + "; ".join(problems)
    elif wf.published:
        status.state = "verified"
        status.detail = f"{path} matches the published " + ", ".join(
            label for label, v in (("sha256", wf.sha256), ("sha256 prefix", wf.sha256_prefix),
                                   (f"git blob sha1 of {wf.git_source}", wf.git_blob_sha1)) if v is not None)
    else:
        status.detail = (f"{path} present; sha256 unknown: nothing is published to verify it against "
                         f"(its sha256 {digest} is recorded with every result)")
    return status


def published_text(wf: WeightFile) -> str:
    """What is published to verify ``wf`` against, in words (``"nothing (sha256 unknown)"`` when nothing is)."""
    parts = [f"size {wf.size} bytes" if wf.size is not None else None,
             f"sha256 {wf.sha256}" if wf.sha256 else None,
             f"sha256 prefix {wf.sha256_prefix}" if wf.sha256_prefix else None,
             f"git blob sha1 {wf.git_blob_sha1} ({wf.git_source})" if wf.git_blob_sha1 else None]
    parts = [p for p in parts if p]
    return ", ".join(parts) if parts else "nothing (sha256 unknown: verify reports it unverified)"


def fix_command(wf: WeightFile) -> str:
    """The exact commands that put ``wf`` where it is looked up, as one sentence."""
    if wf.shipped:
        return f"it ships with the installed package; reinstall that package (expected at {wf.library_path()})"
    text = (f"run `python -m benchmark weights download {wf.key}` on a machine with internet (it fetches {wf.url}), "
            f"or point at a local copy with `python -m benchmark weights register {wf.key} PATH`")
    if wf.env_var:
        text += f" (or set {wf.env_var}=PATH)"
    return text


# kept for callers of the previous module
how_to_get = fix_command


def variant(metric_name: str, options: Optional[dict] = None) -> str:
    """The :data:`MANIFEST` name of the files ``metric_name`` needs with ``options`` (its constructor arguments).

    ``variant("lpips", {"net": "vgg"}) == "lpips_vgg"``; a metric without variants, or options that leave the
    variant option out, give the metric's own name. An unknown value is a :class:`UsageError` listing the known ones.
    """
    if metric_name not in WEIGHT_VARIANTS or not options or options.get(WEIGHT_VARIANTS[metric_name][0]) is None:
        return metric_name
    option, names = WEIGHT_VARIANTS[metric_name]
    value = options[option]
    if value not in names:
        raise UsageError(f"{metric_name}.{option}={value!r}: expected one of {', '.join(names)}")
    return names[value]


def files_for(metric_name: str, options: Optional[dict] = None) -> tuple:
    """The :class:`WeightFile` entries ``metric_name`` needs with ``options`` (see :func:`variant`).

    Options that hand the metric an already built ``network`` (tests with locally built networks) need no file.
    """
    if options and options.get("network") is not None:
        return ()
    return MANIFEST.get(variant(metric_name, options), ())


def _label(metric_name: str, options: Optional[dict]) -> str:
    """``"lpips"`` for the default variant, ``"lpips (net=vgg)"`` for another: who needs the file, in messages."""
    name = variant(metric_name, options)
    if name == metric_name or metric_name not in WEIGHT_VARIANTS:
        return metric_name
    option = WEIGHT_VARIANTS[metric_name][0]
    return f"{metric_name} ({option}={options[option]})"


def check(metric_name: str, *, verify_checksum: bool = True, cache_dir=None,
          options: Optional[dict] = None) -> tuple[bool, str]:
    """Whether ``metric_name`` can be computed from files on this machine, and why (or why not).

    ``options`` are the metric's constructor arguments (``MetricSuite``'s ``metric_options[metric_name]``): the
    files of the variant they select are checked (:func:`files_for`); None checks the default variant's.
    Never downloads and never builds a network: it only looks at (and hashes) files. The reason of a missing or
    mismatching file names the file, where it was looked for, and the command that fixes it. With
    ``verify_checksum=False`` a present file is accepted even if it differs from the published weights.
    """
    needed = files_for(metric_name, options)
    if not needed:  # psnr, ssim, metrics without learned parts, or a network handed over already built
        return True, "no weights needed"
    who = _label(metric_name, options)
    notes = []
    for wf in needed:
        status = file_status(wf, cache_dir)
        if status.state == "missing":
            return False, (f"{who} needs {wf.description}, {'folder' if wf.folder else 'file'} {wf.filename}, "
                           f"{status.detail}; to get it, {fix_command(wf)}")
        if status.state == "mismatch" and verify_checksum:
            return False, (f"{who}: {wf.filename} does not match the published weights: {status.detail}; "
                           f"replace it ({fix_command(wf)}), or score with it anyway by turning checksum verification "
                           "off (the numbers are then not comparable)")
        notes.append(f"{wf.filename} at {status.path} ({status.state})")
    return True, "found " + ", ".join(notes) + ("" if verify_checksum else " (checksums not enforced)")


def describe(metric_name: str, *, cache_dir=None, options: Optional[dict] = None) -> list[dict]:
    """Per file of a metric (of the variant ``options`` select): the manifest entry, the path used, its state and
    sha256 (what results record)."""
    return [{**wf.as_dict(), **file_status(wf, cache_dir).as_dict()} for wf in files_for(metric_name, options)]


def require(key: str, *, verify_checksum: bool = True, cache_dir=None) -> FileStatus:
    """The status of file ``key`` when it can be used; else :class:`WeightsUnavailableError` saying how to fix it."""
    wf = FILES[key]
    status = file_status(wf, cache_dir)
    if status.state == "missing":
        raise WeightsUnavailableError(f"{wf.metric} needs {wf.description}, {wf.filename}, {status.detail}; "
                                      f"to get it, {fix_command(wf)}")
    if status.state == "mismatch" and verify_checksum:
        raise WeightsUnavailableError(f"{wf.filename} does not match the published weights: {status.detail}; "
                                      f"replace it ({fix_command(wf)})")
    return status


def register(key: str, path, *, cache_dir=None, force: bool = False) -> FileStatus:
    """Record ``path`` as the copy of ``key`` to use (no copy is made); returns its status.

    A file that contradicts a published checksum is refused (:class:`UsageError`) unless ``force``.
    """
    wf = FILES[key] if key in FILES else _single(resolve_key(key), key)
    status = file_status(wf, path=path)
    if status.state == "missing":
        raise UsageError(f"weights register {wf.key}: {path} does not exist or is not a "
                         f"{'folder' if wf.folder else 'file'}")
    if status.state == "mismatch" and not force:
        raise UsageError(f"weights register {wf.key}: not registered, {status.detail}. Pass --force to register it "
                         "anyway (numbers computed with it are not comparable with published ones)")
    entries = registered(cache_dir)
    entries[wf.key] = {"path": str(Path(path).expanduser().resolve()), "sha256": status.sha256,
                       "registered": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    registry = _registry_path(cache_dir)
    registry.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(registry, json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return status


def _single(files: list, name: str) -> WeightFile:
    if len(files) != 1:
        raise UsageError(f"{name!r} names {len(files)} files ({', '.join(f.key for f in files)}); name one of them")
    return files[0]


# ---- LPIPS network from local files ----------------------------------------------------------------------------


# torchmetrics' LPIPS ``net`` -> the torchvision backbone whose ``features`` it slices
LPIPS_BACKBONES = {"alex": "AlexNet", "vgg": "VGG16"}


def load_backbone_features(path: Path, backbone: str = "AlexNet") -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision ``backbone`` state dict, loaded with ``weights_only=True``."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    features = {k: v for k, v in state.items() if k.startswith("features.")} if isinstance(state, dict) else {}
    if not features:
        raise WeightsUnavailableError(
            f"{path} holds no 'features.*' tensors; expected a torchvision {backbone} state dict"
        )
    return features


def load_alexnet_features(path: Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a torchvision AlexNet state dict (see :func:`load_backbone_features`)."""
    return load_backbone_features(path, "AlexNet")


def load_lpips_network(device: str | torch.device = "cpu", *, verify_checksum: bool = True,
                       net: str = "alex") -> torch.nn.Module:
    """torchmetrics' LPIPS network (``net`` = ``"alex"`` or ``"vgg"``, v0.1 linear layers) from local files only.

    torchmetrics' own constructor would ask torchvision for the pretrained backbone, which downloads when the
    file is missing. Here the network is built with a randomly initialised backbone (no download; the global
    RNG state is left untouched) and the backbone is then overwritten from the checked local file, so the
    result is the same network torchmetrics builds when the file is in the torch hub cache.
    Raises :class:`WeightsUnavailableError` with the reason when a file is missing or does not match.
    """
    if net not in LPIPS_BACKBONES:
        raise UsageError(f"LPIPS net {net!r}: expected one of {', '.join(LPIPS_BACKBONES)}")
    options = {"net": net}
    ok, reason = check("lpips", verify_checksum=verify_checksum, options=options)
    if not ok:
        raise WeightsUnavailableError(reason)
    from torchmetrics.functional.image.lpips import _NoTrainLpips  # private: pinned by the equality tests

    backbone_file, linear_file = (locate(wf)[0] for wf in files_for("lpips", options))
    with torch.random.fork_rng(devices=[]):
        lpips_net = _NoTrainLpips(net=net, pretrained=True, pnet_rand=True, model_path=str(linear_file))
    backbone = LPIPS_BACKBONES[net]
    features = load_backbone_features(backbone_file, backbone)
    # torchmetrics splits the backbone's `features` into slice1..slice5 keeping the original child indices.
    renamed = {}
    for slice_name, block in lpips_net.net.named_children():
        for child_name, _ in block.named_children():
            for param in ("weight", "bias"):
                src = f"features.{child_name}.{param}"
                if src in features:
                    renamed[f"{slice_name}.{child_name}.{param}"] = features[src]
    try:
        lpips_net.net.load_state_dict(renamed, strict=True)
    except RuntimeError as err:
        raise WeightsUnavailableError(f"{backbone_file} is not a torchvision {backbone} state dict: {err}") from err
    return lpips_net.eval().to(device)


# ---- download --------------------------------------------------------------------------------------------------


def fetch_weights(names=("lpips", "fvd", "clip_i"), *, progress: bool = True, cache_dir=None) -> list[str]:
    """Download the missing files of ``names`` (metrics or keys, see :func:`resolve_key`) into the weights directory.

    A file already found anywhere :func:`locate` looks (an existing torch hub or cd-fvd copy included) is left
    alone unless it contradicts its published checksum: then nothing is overwritten and an error says so. A
    missing file goes to the path its environment variable names when set, else to the weights directory.
    Downloads go to a temporary name and are renamed only after the published checksum (if any) matched.
    ``$EXOEGO_WEIGHTS_MIRROR`` replaces the download base (``https://...`` or ``file:///...``; files by name, a
    folder's files under ``<base>/<folder name>/``). Returns one line per file; raises
    :class:`WeightsFetchError` with the URL, the target path and what to do instead on failure.
    """
    messages = []
    seen = set()
    for name in (names,) if isinstance(names, str) else names:
        for wf in resolve_key(name):
            if wf.key in seen:
                continue
            seen.add(wf.key)
            status = file_status(wf, cache_dir)
            if status.state == "mismatch":
                raise WeightsFetchError(
                    f"{wf.filename}: a copy is already at {status.path} but does not match the published weights "
                    f"({status.detail}); not overwriting it: delete it (or unregister it) and download again")
            if status.state != "missing":
                messages.append(f"{wf.key}: present at {status.path} ({status.state})")
                continue
            if wf.shipped or not wf.url:
                raise WeightsFetchError(f"{wf.key}: {wf.filename} missing; {fix_command(wf)}")
            # a file whose variable names a path goes there (the user said where it lives); others to the cache
            named = wf.env_var and os.environ.get(wf.env_var)
            dst = Path(named).expanduser() if named else weights_dir(cache_dir) / wf.filename
            mirror = os.environ.get(ENV_WEIGHTS_MIRROR)
            base = f"{mirror.rstrip('/')}/{wf.filename}" if mirror else wf.url
            if wf.folder:
                _download_folder(wf, base, dst, progress=progress)
            else:
                _download(wf, base, dst, progress=progress)
            state = file_status(wf, cache_dir)
            messages.append(f"{wf.key}: downloaded {base} to {dst} ({state.state}, sha256 {state.sha256})")
    return messages


def _download(wf: WeightFile, url: str, dst: Path, *, progress: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{wf.filename}.", suffix=".partial", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # torch.hub checks the sha256 prefix and raises before anything reaches ``dst``.
        torch.hub.download_url_to_file(url, str(tmp), hash_prefix=wf.sha256_prefix, progress=progress)
        status = file_status(wf, path=tmp)
        if status.state == "mismatch":
            raise RuntimeError(status.detail)
        os.chmod(tmp, default_mode())  # mkstemp makes 0600; a team's shared cache must stay readable
        os.replace(tmp, dst)
    except Exception as err:  # network errors come in many types; all end the same way
        raise WeightsFetchError(
            f"could not fetch {wf.filename} from {url} to {dst}: {type(err).__name__}: {err}. "
            f"On a machine with internet run `python -m benchmark weights download {wf.key}`, or download {wf.url} "
            f"yourself and run `python -m benchmark weights register {wf.key} PATH`"
        ) from err
    finally:
        tmp.unlink(missing_ok=True)


def _download_folder(wf: WeightFile, base: str, dst: Path, *, progress: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{wf.filename}.", suffix=".partial", dir=dst.parent))
    try:
        for name in CLIP_DOWNLOAD_FILES:
            torch.hub.download_url_to_file(f"{base}/{name}", str(tmp / name), progress=progress)
            os.chmod(tmp / name, default_mode())
        os.chmod(tmp, default_mode(directory=True))
        os.replace(tmp, dst)
    except Exception as err:
        raise WeightsFetchError(
            f"could not fetch {wf.filename} ({', '.join(CLIP_DOWNLOAD_FILES)}) from {base} to {dst}: "
            f"{type(err).__name__}: {err}. On a machine with internet run `python -m benchmark weights download "
            f"{wf.key}`, or save {wf.hf_repo} with transformers' save_pretrained and run "
            f"`python -m benchmark weights register {wf.key} FOLDER`"
        ) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
