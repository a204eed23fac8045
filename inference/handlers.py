"""Load a model and its user script the way the SageMaker inference toolkit does.

The script is `SAGEMAKER_PROGRAM` (default `inference.py`) in `SAGEMAKER_SUBMIT_DIRECTORY`
(default `<model dir>/code`). Each handler is taken with `getattr(module, name, default)`, and
the defaults are the SageMaker PyTorch inference toolkit's (`default_pytorch_inference_handler`):
`model_fn` loads a TorchScript `model.pt` (or the one `.pt` / `.pth` file); `input_fn` decodes
JSON / CSV / npy into a tensor on the device; `predict_fn` runs the forward pass under
`torch.no_grad()` on a model put on the device and in eval mode (`model.eval()`), which the
toolkit does before each forward and this module once, at load (the device is chosen then too);
`output_fn` encodes JSON / CSV / npy. A lone `transform_fn(model, body, content_type, accept)`
replaces the three; a model without any script is served with the defaults alone, as the
toolkit serves it. A handler that takes one more argument (or one named `context`) gets the
toolkit's `context`: the request's headers (`X-Amzn-SageMaker-Custom-Attributes` among them)
and the response headers it sets. Every problem is found at start, as a `ModelLoadError`,
never at the first request.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from inference import codecs
from inference.errors import BadRequest, ModelLoadError
from smlocal.core import archives
from smlocal.core.archives import ArchiveError

DEFAULT_PROGRAM = "inference.py"
DEFAULT_MODEL_FILENAME = "model.pt"  # what the toolkit's default model_fn loads first
# SageMaker sets this path inside the container; here it means the local model directory.
CONTAINER_MODEL_DIR = "/opt/ml/model"

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
Transform = Callable[..., tuple[bytes, str]]  # (body, content_type, accept, context=None)


class Context:
    """The toolkit's `context` for one request (index 0): its headers, and the response headers
    a handler sets (custom attributes go back to the caller this way)."""

    def __init__(self, request_headers: dict[str, str] | None = None) -> None:
        self._request = {k.lower(): v for k, v in (request_headers or {}).items()}
        self.response_headers: dict[str, str] = {}

    @property
    def custom_attributes(self) -> str | None:
        return self.get_request_header(0, CUSTOM_ATTRIBUTES)

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self._request.get(key.lower())

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.response_headers[key] = value


def _with_context(fn: Callable, arity: int) -> Callable:
    """`fn` called as `f(*args, context=...)`: the context is passed on only if `fn` takes it
    (a parameter named `context`, or one more than the toolkit's `arity`), as the toolkit does."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.name == "context" for p in params) or len(positional) > arity:

        def call(*args: Any, context: Context | None = None) -> Any:
            return fn(*args, context or Context())

        return call

    def plain(*args: Any, context: Context | None = None) -> Any:
        return fn(*args)

    return plain


# --- the toolkit's default handlers (PyTorch flavour) -----------------------------------------


def _device() -> torch.device:
    # The toolkit's choice: CUDA when the serving host has it (made once per load, not per call).
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _model_file(directory: Path) -> Path:
    """`model.pt`, else the one `.pt` / `.pth` file: what the toolkit's default model_fn loads."""
    path = directory / DEFAULT_MODEL_FILENAME
    if path.is_file():
        return path
    found = sorted(p.name for p in directory.iterdir() if p.suffix in (".pt", ".pth"))
    if len(found) != 1:
        raise ModelLoadError(
            f"the default model_fn needs exactly one .pt or .pth file in {directory}, "
            f"found {found or 'none'}"
        )
    return directory / found[0]


def default_model_fn(model_dir: str) -> Any:
    """A TorchScript model: `model.pt`, else the one `.pt` / `.pth` file in `model_dir`, loaded
    onto the device (the PyTorch toolkit's default). ModelLoadError otherwise."""
    path = _model_file(Path(model_dir))
    device = _device()
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript; the toolkit loads it
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device)
    except Exception as err:  # a state_dict or pickled module is not TorchScript
        raise ModelLoadError(
            f"the default model_fn cannot load {path} as TorchScript ({type(err).__name__}); "
            "save it with torch.jit.save or define model_fn(model_dir)"
        ) from None
    return model.to(device)


def default_input_fn(
    body: bytes,
    content_type: str,
    limits: codecs.Limits | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """JSON / CSV → a float32 tensor (as the PyTorch container does); npy / npz keep their
    dtype; on `device` (default: the toolkit's choice). 413 for a body that decodes to more than
    `limits` (default: the environment's)."""
    array = codecs.decode(body, content_type, limits)
    if codecs.media_type(content_type) in (codecs.JSON, codecs.CSV):
        array = array.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(array)).to(device or _device())


def default_predict_fn(data: Any, model: Any, device: torch.device | None = None) -> Any:
    """As the toolkit's: the data on `device` (default: the toolkit's choice), then `model(data)`
    under `torch.no_grad()`. The toolkit also puts the model on the device and calls
    `model.eval()` before each forward; a loaded pipeline does both once, at load (`_ready`)."""
    if isinstance(data, torch.Tensor):
        data = data.to(device or _device())
    with torch.no_grad():
        return model(data)


def _ready(model: Any, device: torch.device) -> Any:
    """What the toolkit's default predict_fn does to the model before every forward, done once:
    on the device, and `model.eval()` (a model_fn may return a model in training mode: dropout
    off, batch norm on its running statistics)."""
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
        model.eval()
    return model


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    """A tensor, array or JSON-able value → JSON / CSV / npy."""
    return codecs.encode(prediction, accept)


# --- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handlers:
    """A loaded model and the one call that answers a request with it."""

    model: Any
    program: Path  # the script; without one, the model file the defaults serve
    transform: Transform
    default_accept: str = codecs.DEFAULT  # the answer type when a request names none


def unpack(model_dir: Path | str) -> Path:
    """A model directory as is, or a `model.tar.gz` extracted to a private temporary directory
    (removed when the process exits)."""
    path = Path(model_dir)
    if path.is_dir():
        return path.resolve()
    if not path.is_file():
        raise ModelLoadError(f"model dir {path} does not exist; pass a directory or model.tar.gz")
    target = Path(tempfile.mkdtemp(prefix="smlocal-model-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    try:
        archives.extract(path, target)
    except ArchiveError as err:
        raise ModelLoadError(f"model archive {path} cannot be extracted: {err}") from None
    return target


def _submit_dir(model_dir: Path, submit_dir: str | None) -> Path:
    if not submit_dir:
        return model_dir / "code"
    if submit_dir.startswith("s3://"):
        raise ModelLoadError(
            f"SAGEMAKER_SUBMIT_DIRECTORY={submit_dir} is in S3; package the script under code/ "
            "in model.tar.gz (as the SageMaker PyTorch model does) or pass a local path"
        )
    if submit_dir == CONTAINER_MODEL_DIR or submit_dir.startswith(CONTAINER_MODEL_DIR + "/"):
        return model_dir / submit_dir[len(CONTAINER_MODEL_DIR) :].lstrip("/")
    path = Path(submit_dir)
    return unpack(path) if path.is_file() else path


def _local_names(directory: Path) -> set[str]:
    """Top-level module names that the script's own directory provides."""
    names = {p.stem for p in directory.glob("*.py")}
    names |= {p.parent.name for p in directory.glob("*/__init__.py")}
    return names


def _import(program: Path) -> ModuleType:
    # A private module name: the script is often called inference.py, like this package.
    name = f"sagemaker_program_{program.stem}"
    spec = importlib.util.spec_from_file_location(name, program)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"program {program} is not a python file")
    module = importlib.util.module_from_spec(spec)
    directory = program.parent
    # While the script imports, its directory comes first, as in the container: a
    # `from inference import Net` in code/mnist.py must reach code/inference.py, not this
    # package. Afterwards this package's modules are put back (spawned --workers re-import
    # `inference.server` by name), and the directory stays on the path, last, for lazy imports.
    shadowed = _local_names(directory)
    saved = {
        key: sys.modules.pop(key) for key in list(sys.modules) if key.split(".")[0] in shadowed
    }
    sys.path.insert(0, str(directory))
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise ModelLoadError(
            f"program {program} failed to import: {type(err).__name__}: {err}"
        ) from None
    finally:
        sys.path.remove(str(directory))
        if str(directory) not in sys.path:
            sys.path.append(str(directory))
        for key in [k for k in sys.modules if k.split(".")[0] in shadowed]:
            del sys.modules[key]
        sys.modules.update(saved)
    sys.modules[name] = module
    return module


def load(
    model_dir: Path | str,
    *,
    program: str | None = None,
    submit_dir: str | None = None,
    limits: codecs.Limits | None = None,
) -> Handlers:
    """Unpack the model, import its script and run `model_fn` once.

    `program` / `submit_dir` default to `SAGEMAKER_PROGRAM` / `SAGEMAKER_SUBMIT_DIRECTORY`;
    `limits` (how big a decoded request may be) to `SMLOCAL_MAX_BATCH_SIZE` /
    `SMLOCAL_MAX_DECODED_BYTES` or the defaults for a 6 MB payload; the answer type of a
    request without Accept is `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`'s, read here.
    """
    handlers = _load(model_dir, program, submit_dir, limits)
    return replace(handlers, default_accept=codecs.default_accept())


def _load(
    model_dir: Path | str,
    program: str | None,
    submit_dir: str | None,
    limits: codecs.Limits | None,
) -> Handlers:
    limits = limits or codecs.Limits.from_env(codecs.REALTIME_PAYLOAD_BYTES)
    directory = unpack(model_dir)
    program = program or os.environ.get("SAGEMAKER_PROGRAM") or DEFAULT_PROGRAM
    code = _submit_dir(directory, submit_dir or os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY"))
    script = code / program
    if not script.is_file():
        return _defaults_only(directory, code, program, limits)
    module = _import(script)

    model_fn = getattr(module, "model_fn", None)
    transform_fn = getattr(module, "transform_fn", None)
    separate = [n for n in ("input_fn", "predict_fn", "output_fn") if hasattr(module, n)]
    if transform_fn is not None and separate:
        raise ModelLoadError(
            f"program {script} defines transform_fn and {', '.join(separate)}; "
            "define transform_fn alone or the separate handlers, not both"
        )
    if not callable(model_fn):
        model = _default_model(directory, f"program {script} defines no model_fn(model_dir)")
    else:
        try:
            model = model_fn(str(directory))
        except Exception as err:
            raise ModelLoadError(
                f"model_fn({directory}) of {script} failed: {type(err).__name__}: {err}"
            ) from None

    if transform_fn is not None:
        return Handlers(model, script, _lone_transform(model, transform_fn, limits))
    return Handlers(
        model,
        script,
        _pipeline(
            model,
            getattr(module, "input_fn", default_input_fn),
            getattr(module, "predict_fn", default_predict_fn),
            getattr(module, "output_fn", default_output_fn),
            limits,
        ),
    )


def _default_model(directory: Path, missing: str) -> Any:
    """The toolkit's default model_fn, its refusal prefixed with what made it the fallback."""
    try:
        return default_model_fn(str(directory))
    except ModelLoadError as err:
        raise ModelLoadError(f"{missing}, and {err}") from None


def _defaults_only(directory: Path, code: Path, program: str, limits: codecs.Limits) -> Handlers:
    # As the toolkit does when it finds no user module: every handler is the default one.
    present = sorted(p.name for p in code.glob("*.py")) if code.is_dir() else []
    missing = (
        f"program {program} not found in {code} (python files there: "
        f"{', '.join(present) or 'none'}; set SAGEMAKER_PROGRAM or add code/{program})"
    )
    model = _default_model(directory, missing)
    transform = _pipeline(model, default_input_fn, default_predict_fn, default_output_fn, limits)
    return Handlers(model, _model_file(directory), transform)


def _as_response(result: Any, accept: str) -> tuple[bytes, str]:
    # The toolkit accepts a body alone (typed as the Accept) or a (body, content type) pair.
    body, content_type = result if isinstance(result, tuple) else (result, accept)
    if isinstance(body, str):
        body = body.encode()
    return bytes(body), content_type


def _pipeline(
    model: Any,
    input_fn: Callable,
    predict_fn: Callable,
    output_fn: Callable,
    limits: codecs.Limits,
) -> Transform:
    device = _device()
    if predict_fn is default_predict_fn:
        # The model as the default predict_fn needs it, made so once rather than per request
        # (a `.to()` and an `.eval()` walk every submodule: ~10% of the MNIST Net's forward).
        model = _ready(model, device)
        predict_fn = functools.partial(default_predict_fn, device=device)
    predict, output = _with_context(predict_fn, 2), _with_context(output_fn, 2)
    if input_fn is default_input_fn:  # it checks the limits itself, before it allocates
        decode = functools.partial(default_input_fn, limits=limits, device=device)

        def default_transform(
            body: bytes, content_type: str, accept: str, context: Context | None = None
        ) -> tuple[bytes, str]:
            data = decode(body, content_type)
            prediction = predict(data, model, context=context)
            return _as_response(output(prediction, accept, context=context), accept)

        return default_transform

    decode_input = _with_context(input_fn, 2)

    def transform(
        body: bytes, content_type: str, accept: str, context: Context | None = None
    ) -> tuple[bytes, str]:
        # A script's own input_fn decodes as it likes: an npy / npz body is checked from its
        # headers first, and what input_fn returns (batch, bytes) before the model sees it.
        _check_encoded(body, content_type, limits)
        data = decode_input(body, content_type, context=context)
        limits.check_data(data)
        prediction = predict(data, model, context=context)
        return _as_response(output(prediction, accept, context=context), accept)

    return transform


def _check_encoded(body: bytes, content_type: str, limits: codecs.Limits) -> None:
    # Only the size is ours to refuse here: a body the codecs cannot read may still be one the
    # script's own decoder understands, so it answers for it.
    with contextlib.suppress(BadRequest):
        shape = codecs.check_encoded(body, content_type, limits)
        # The batch too, before the script decodes it (its copies of a 7.8 MB batch cost the
        # server ~100 MB): the first dimension of an array of 2 or more dimensions. A 1-D array
        # may be one flat item (an MNIST image as 784 numbers), so it waits for input_fn's result.
        if shape is not None and len(shape) >= 2:
            limits.check_batch(shape[0])


def _lone_transform(model: Any, transform_fn: Callable, limits: codecs.Limits) -> Transform:
    run = _with_context(transform_fn, 4)

    def transform(
        body: bytes, content_type: str, accept: str, context: Context | None = None
    ) -> tuple[bytes, str]:
        _check_encoded(body, content_type, limits)
        return _as_response(run(model, body, content_type, accept, context=context), accept)

    return transform
