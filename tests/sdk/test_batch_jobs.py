"""Processing, tuning and batch transform through the SageMaker Python SDK v2 against the local
cloud (`batch_jobs.py`, in `.venv-sdk`): the processor's output feeds the transform, the tuner
runs two real training jobs and names the best, whose model predicts each processed row."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from localcloud import control
from tests.helpers.sdk import SDK_PYTHON, mnist_inputs, run_script

SCRIPT = Path(__file__).with_name("batch_jobs.py")


def _s3_read(s3: object, uri: str) -> bytes:
    bucket, _, key = uri[5:].partition("/")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]


def _predict(archive: bytes, csv: str) -> list[int]:
    """The labels the model in `archive` gives the CSV rows, computed here, in-process."""
    import torch

    from inference import inference

    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        weights = tar.extractfile("model.pth").read()  # type: ignore[union-attr]
    model = inference.Net()
    model.load_state_dict(torch.load(io.BytesIO(weights), weights_only=True))
    model.eval()
    tensor = inference.input_fn(csv.encode(), "text/csv")
    return inference.predict_fn(tensor, model).argmax(dim=1).tolist()


@pytest.mark.slow
@pytest.mark.skipif(
    not SDK_PYTHON.exists(),
    reason="the SageMaker SDK venv .venv-sdk is absent here; `make sdk-setup` builds it (CI does)",
)
def test_a_processor_s_output_is_transformed_by_the_best_model_a_tuner_found(
    cloud: tuple[Path, int], cloud_env: dict[str, str], tmp_path: Path
) -> None:
    from training.data import digits_splits

    state_dir, port = cloud
    data_dir, source_dir = mnist_inputs(tmp_path)
    images, labels = digits_splits()["test"]
    pixels = ["".join(",".join(str(int(v)) for v in image.reshape(-1))) for image in images[:4]]
    raw = tmp_path / "raw" / "raw.csv"
    raw.parent.mkdir()
    raw.write_text("".join(f"{label},{row}\n" for label, row in zip(labels, pixels, strict=False)))

    args = [str(source_dir), str(data_dir), str(raw)]
    # No SDK config file: the SDK's schema check of it at every default it looks up was most
    # of this test's time (see run_script).
    seen = run_script(
        SDK_PYTHON, SCRIPT, args, cloud_env, tmp_path, '{"seconds"', telemetry_opt_out=False
    )
    print("sdk v2 batch jobs, seconds:", seen["seconds"])  # for the figures; not asserted

    s3 = control.client("s3", port, state_dir)
    assert seen["processing_status"] == "Completed"
    features = _s3_read(s3, f"{seen['features']}/features.csv").decode()
    assert features == "".join(f"{row}\n" for row in pixels)
    assert seen["tuning_status"] == "Completed" and seen["completed"] == 2
    assert seen["best_value"] == max(seen["values"]) and len(seen["values"]) == 2
    assert seen["best_value"] > 0.5  # a real epoch of training, not chance (0.1)
    assert seen["transform_status"] == "Completed"
    out = _s3_read(s3, f"{seen['output']}/features.csv.out").decode().splitlines()
    expected = _predict(_s3_read(s3, seen["model_data"]), features)
    assert [int(line.split(",")[0]) for line in out] == expected
    assert all(len(line.split(",")) == 11 for line in out)  # label, 10 probabilities
