"""Loading a user script the toolkit's way: defaults, transform_fn, and errors at start."""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest

from inference.errors import ModelLoadError
from inference.handlers import load
from tests.helpers.models import build_model_dir

# A third-party-style script: only model_fn; the toolkit's defaults do the rest.
ONLY_MODEL_FN = """
    import torch

    def model_fn(model_dir):
        model = torch.nn.Linear(3, 2)
        with torch.no_grad():
            model.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
            model.bias.zero_()
        return model
"""

TRANSFORM_ONLY = """
    import json

    def model_fn(model_dir):
        return {"scale": 2}

    def transform_fn(model, body, content_type, accept):
        values = json.loads(body)
        return json.dumps([v * model["scale"] for v in values]), "application/json"
"""


def test_script_with_only_model_fn_uses_the_default_handlers(tmp_path: Path) -> None:
    handlers = load(build_model_dir(tmp_path, ONLY_MODEL_FN))
    body, content_type = handlers.transform(b"[[1, 2, 3]]", "application/json", "application/json")
    assert (json.loads(body), content_type) == ([[1.0, 5.0]], "application/json")

    body, content_type = handlers.transform(b"1,2,3\n", "text/csv", "application/x-npy")
    assert content_type == "application/x-npy"
    assert np.load(io.BytesIO(body)).tolist() == [[1.0, 5.0]]


def test_default_input_fn_errors_carry_400_and_415(tmp_path: Path) -> None:
    handlers = load(build_model_dir(tmp_path, ONLY_MODEL_FN))
    with pytest.raises(Exception, match="not valid application/json") as caught:
        handlers.transform(b"[[1,", "application/json", "application/json")
    assert caught.value.status_code == 400
    with pytest.raises(Exception, match="image/png") as caught:
        handlers.transform(b"x", "image/png", "application/json")
    assert caught.value.status_code == 415


def test_transform_fn_alone_is_accepted(tmp_path: Path) -> None:
    handlers = load(build_model_dir(tmp_path, TRANSFORM_ONLY))
    assert handlers.transform(b"[1, 2]", "application/json", "application/json") == (
        b"[2, 4]",
        "application/json",
    )


def test_output_fn_returning_a_body_alone_is_typed_as_the_accept(tmp_path: Path) -> None:
    script = ONLY_MODEL_FN + "\n    def output_fn(prediction, accept):\n        return 'done'\n"
    handlers = load(build_model_dir(tmp_path, script))
    assert handlers.transform(b"[[1, 2, 3]]", "application/json", "text/csv") == (
        b"done",
        "text/csv",
    )


def test_our_model_is_loaded_from_a_model_tar_gz(tmp_path: Path, model_dir: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir / "model.pth", "model.pth")
        tar.add(model_dir / "code" / "inference.py", "code/inference.py")
    handlers = load(archive)
    body, _ = handlers.transform(json.dumps([[0] * 784]).encode(), "application/json", "")
    assert len(json.loads(body)["predictions"][0]["probabilities"]) == 10


def test_training_entry_point_serves_through_its_sibling_inference_py(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK walkthrough's estimator.deploy() serves mnist.py, which imports its handlers
    # from the inference.py beside it: that file, not this project's `inference` package.
    import inference as our_package

    shutil.copy(Path(__file__).parents[2] / "training" / "mnist.py", model_dir / "code")
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "mnist.py")
    handlers = load(model_dir)
    body, _ = handlers.transform(json.dumps([[0] * 784]).encode(), "application/json", "")
    assert len(json.loads(body)["predictions"][0]["probabilities"]) == 10
    assert sys.modules["inference"] is our_package


def test_sagemaker_program_and_container_submit_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = build_model_dir(tmp_path, ONLY_MODEL_FN)
    (directory / "code" / "inference.py").rename(directory / "code" / "serve_me.py")
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "serve_me.py")
    # As SageMaker sets it inside the container: it means the local model directory here.
    monkeypatch.setenv("SAGEMAKER_SUBMIT_DIRECTORY", "/opt/ml/model/code")
    assert load(directory).program == directory.resolve() / "code" / "serve_me.py"


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("def input_fn(body, content_type):\n    return body\n", "defines no model_fn"),
        (dedent(TRANSFORM_ONLY) + "def predict_fn(data, model):\n    return data\n", "not both"),
        ("import not_a_module_anywhere\n", "failed to import: ModuleNotFoundError"),
        ("def model_fn(model_dir):\n    raise OSError('no weights')\n", "OSError: no weights"),
    ],
    ids=["missing-model_fn", "transform_fn-and-predict_fn", "import-error", "model_fn-error"],
)
def test_unservable_scripts_fail_at_load(tmp_path: Path, script: str, says: str) -> None:
    with pytest.raises(ModelLoadError, match=says):
        load(build_model_dir(tmp_path, script))


def test_missing_program_lists_what_is_there(tmp_path: Path) -> None:
    directory = build_model_dir(tmp_path, ONLY_MODEL_FN)
    with pytest.raises(ModelLoadError, match=r"program serve\.py not found .*inference\.py"):
        load(directory, program="serve.py")


def test_missing_model_dir_and_bad_archive(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "model.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ModelLoadError, match="cannot be extracted"):
        load(tmp_path / "model.tar.gz")


def test_s3_submit_directory_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="is in S3"):
        load(build_model_dir(tmp_path), submit_dir="s3://bucket/sourcedir.tar.gz")


CONTEXT_AWARE = """
    import json

    def model_fn(model_dir):
        return "m"

    def predict_fn(data, model, context):
        attributes = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes")
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", f"seen={attributes}")
        return data

    def output_fn(prediction, accept):
        return json.dumps(prediction.tolist()), "application/json"
"""


def test_handlers_that_take_context_read_and_set_custom_attributes(tmp_path: Path) -> None:
    from inference.handlers import CUSTOM_ATTRIBUTES, Context

    handlers = load(build_model_dir(tmp_path, CONTEXT_AWARE))
    context = Context({CUSTOM_ATTRIBUTES: "trace=7"})
    body, _ = handlers.transform(b"[1]", "application/json", "application/json", context)
    assert json.loads(body) == [1]
    assert context.response_headers == {CUSTOM_ATTRIBUTES: "seen=trace=7"}
    # Without a context (batch transform, older callers) the handler still gets an empty one.
    body, _ = handlers.transform(b"[2]", "application/json", "application/json")
    assert json.loads(body) == [2]


# The SageMaker examples' pattern: model_fn returns a DataParallel model in training mode and
# relies on the toolkit's default predict_fn to call eval() (dropout off).
DROPOUT_MODEL_FN = """
    import torch

    def model_fn(model_dir):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(4, 64), torch.nn.Dropout(0.5), torch.nn.Linear(64, 3)
        )
        return torch.nn.DataParallel(net)  # training mode, as built
"""


def test_default_predict_fn_runs_a_train_mode_model_in_eval_mode(tmp_path: Path) -> None:
    import torch

    handlers = load(build_model_dir(tmp_path, DROPOUT_MODEL_FN))
    body = b"[[1.0, 2.0, 3.0, 4.0]]"
    answers = {handlers.transform(body, "application/json", "application/json") for _ in range(3)}
    assert len(answers) == 1, answers  # dropout off: identical requests, identical answers
    net = handlers.model.module
    with torch.no_grad():
        expected = net(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    assert json.loads(answers.pop()[0])[0] == pytest.approx(expected.tolist()[0])
    assert not handlers.model.training and not net[1].training


COUNTING_MODEL_FN = """
    import torch

    class Counting(torch.nn.Sequential):
        modes = []

        def train(self, mode=True):
            self.modes.append(mode)
            return super().train(mode)

    def model_fn(model_dir):
        return Counting(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5))  # training mode
"""


def test_the_default_predict_fn_s_model_is_made_ready_once_at_load(tmp_path: Path) -> None:
    """The toolkit's `.to(device)` and `eval()` before each forward are done once, at load: the
    model answers its first request in eval mode and no request walks it again."""
    handlers = load(build_model_dir(tmp_path, COUNTING_MODEL_FN))
    assert not handlers.model.training and handlers.model.modes == [False]
    for _ in range(3):
        handlers.transform(b"[[1.0, 2.0, 3.0, 4.0]]", "application/json", "application/json")
    assert handlers.model.modes == [False]


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # the toolkit's format
def test_a_torchscript_model_without_any_script_is_served_with_the_defaults(
    tmp_path: Path,
) -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.5)).train()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "model.pt"))
    handlers = load(tmp_path)  # no code/ at all: the toolkit serves it with its defaults
    assert handlers.program == tmp_path.resolve() / "model.pt"
    body, content_type = handlers.transform(b"[[1, 2, 3]]", "application/json", "")
    with torch.no_grad():
        expected = net.eval()(torch.tensor([[1.0, 2.0, 3.0]]))
    assert json.loads(body)[0] == pytest.approx(expected.tolist()[0])
    assert content_type == "application/json"


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({}, r"program inference\.py not found .* exactly one \.pt or \.pth file .* found none"),
        ({"a.pt": b"x", "b.pth": b"y"}, r"found \['a\.pt', 'b\.pth'\]"),
        ({"model.pth": b"not torchscript"}, r"cannot load .*model\.pth as TorchScript"),
    ],
    ids=["no-model-file", "two-model-files", "not-torchscript"],
)
def test_without_model_fn_the_default_needs_one_torchscript_file(
    tmp_path: Path, files: dict[str, bytes], says: str
) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(ModelLoadError, match=says):
        load(tmp_path)
