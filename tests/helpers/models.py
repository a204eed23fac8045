"""Model artifacts without training: the served `Net` with seeded random weights, and
`code/inference.py` (ours, or a script a test writes), as a folder or as `model.tar.gz`."""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

from tests.helpers import ROOT

INFERENCE_SCRIPT = ROOT / "inference" / "inference.py"


def seeded_weights(seed: int = 0) -> bytes:
    """`model.pth`: the state_dict of a `Net` built after `torch.manual_seed(seed)`."""
    import torch

    from inference.inference import Net

    torch.manual_seed(seed)
    buf = io.BytesIO()
    torch.save(Net().state_dict(), buf)
    return buf.getvalue()


def build_model_dir(directory: Path, script: str | None = None, seed: int = 0) -> Path:
    """model.pth (state_dict of a seeded Net) + code/inference.py (ours, or `script`)."""
    code = directory / "code"
    code.mkdir(parents=True, exist_ok=True)
    (directory / "model.pth").write_bytes(seeded_weights(seed))
    text = INFERENCE_SCRIPT.read_text() if script is None else textwrap.dedent(script)
    (code / "inference.py").write_text(text)
    return directory


def model_archive(script: str | None = None, *, weights: bool = True, seed: int = 0) -> bytes:
    """A model.tar.gz: `model.pth` (random weights of the served Net) and `code/inference.py`."""
    files: dict[str, bytes] = {
        "code/inference.py": script.encode() if script else INFERENCE_SCRIPT.read_bytes()
    }
    if weights:
        files["model.pth"] = seeded_weights(seed)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
