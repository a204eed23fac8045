"""AWS clients, unmodified, against the local cloud with nothing but `smlocal cloud env`'s
environment: boto3 with an AWS endpoint named in code, the AWS CLI, and the SageMaker Python SDK
v2 walkthrough (fit on 2 instances, deploy, predict, delete, a serverless deploy). The SDK and
the CLI live in their own venv (`make sdk-setup`); their pins would fight the project's, and
they need no torch: they only talk to the cloud."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from localcloud import control
from localcloud.gateway.bundle import TRUST_VARIABLES
from localcloud.gateway.proxy import proxy_password
from tests.helpers.sdk import SDK_PYTHON, mnist_inputs, run_script

SDK_BIN = SDK_PYTHON.parent
WALKTHROUGH = Path(__file__).with_name("walkthrough.py")

needs_sdk_venv = pytest.mark.skipif(
    not SDK_PYTHON.exists(),
    reason="the SageMaker SDK venv .venv-sdk is absent here; `make sdk-setup` builds it (CI does)",
)


def test_env_exports_the_url_the_key_the_proxy_and_the_ca_bundle(
    cloud: tuple[Path, int], cloud_env: dict[str, str]
) -> None:
    state_dir, port = cloud
    assert cloud_env["AWS_ENDPOINT_URL"] == f"http://localhost:{port}"
    # The proxy with its password inside: every client below honours credentials in the URL.
    proxy = f"http://smlocal:{proxy_password(state_dir)}@localhost:{port}"
    assert cloud_env["HTTPS_PROXY"] == cloud_env["https_proxy"] == proxy
    assert cloud_env["NO_PROXY"] == cloud_env["no_proxy"] == "localhost,127.0.0.1,::1"
    assert cloud_env["CDK_DEFAULT_ACCOUNT"] == "123456789012"
    assert cloud_env["AWS_REGION"] == cloud_env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert cloud_env["SMLOCAL_STATE_DIR"] == str(state_dir)
    # The key the cloud of that state dir issued, and its CA: owner-only files.
    key = json.loads((state_dir / "credentials.json").read_text())
    assert cloud_env["AWS_ACCESS_KEY_ID"] == key["AccessKeyId"]
    assert cloud_env["AWS_SECRET_ACCESS_KEY"] == key["SecretAccessKey"]
    # One bundle for every client family: the cloud's CA, then what the shell trusted.
    bundle = state_dir / "ca-bundle.pem"
    assert {name: cloud_env[name] for name in TRUST_VARIABLES} == dict.fromkeys(
        TRUST_VARIABLES, str(bundle)
    )
    assert (state_dir / "ca.pem").read_text().strip() in bundle.read_text()
    assert bundle.read_text().count("-----BEGIN CERTIFICATE-----") > 1
    for name in ("credentials.json", "ca.pem", "ca-key.pem", "ca-bundle.pem"):
        assert (state_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert "PRIVATE KEY" not in bundle.read_text()


def test_a_client_that_names_an_aws_endpoint_reaches_the_cloud(cloud_env: dict[str, str]) -> None:
    sts = boto3.client("sts", endpoint_url="https://sts.us-east-1.amazonaws.com")
    assert sts.get_caller_identity()["Account"] == "123456789012"
    # S3 by AWS's names, path style and virtual host: the same buckets as the cloud's URL.
    s3 = boto3.client("s3", endpoint_url="https://s3.us-east-1.amazonaws.com")
    s3.create_bucket(Bucket="through-the-proxy")
    s3.put_object(Bucket="through-the-proxy", Key="k", Body=b"x" * 100_000)
    virtual = boto3.client(
        "s3",
        endpoint_url="https://s3.us-east-1.amazonaws.com",
        config=boto3.session.Config(s3={"addressing_style": "virtual"}),
    )
    assert virtual.get_object(Bucket="through-the-proxy", Key="k")["Body"].read() == b"x" * 100_000
    direct = boto3.client("s3")  # AWS_ENDPOINT_URL: the cloud's own URL, no proxy
    assert "through-the-proxy" in [b["Name"] for b in direct.list_buckets()["Buckets"]]


def _connect(port: int, target: str, password: str | None = None) -> bytes:
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if password is not None:
        token = base64.b64encode(f"smlocal:{password}".encode()).decode()
        head += f"Proxy-Authorization: Basic {token}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{head}\r\n".encode())
        # The refusal closes the connection: read to the end (one recv may hold the head only).
        return b"".join(iter(lambda: sock.recv(4096), b""))


@pytest.mark.parametrize("target", ["example.com:443", "sts.amazonaws.com:443"])
@pytest.mark.parametrize("password", [None, "not-the-password"], ids=["none", "wrong"])
def test_the_proxy_lets_in_no_one_but_its_user(
    cloud: tuple[Path, int], target: str, password: str | None
) -> None:
    answer = _connect(cloud[1], target, password)
    assert answer.startswith(b"HTTP/1.1 407 "), answer
    assert b'Proxy-Authenticate: Basic realm="smlocal local cloud"' in answer
    assert b"needs the password in its URL" in answer


@pytest.mark.parametrize(
    ("target", "refusal"),
    [
        ("127.0.0.1:22", b"not 127.0.0.1: loopback"),
        ("[::1]:443", b"not ::1: loopback"),
        ("localhost:{port}", b"not localhost (127.0.0.1): loopback"),  # the cloud itself
        ("169.254.169.254:80", b"not 169.254.169.254: link-local"),
        ("10.0.0.1:443", b"not 10.0.0.1: private"),
        ("sts.amazonaws.com:80", b"relays nothing of AWS's"),
        ("s3.cn-north-1.amazonaws.com.cn:443", b"relays nothing of AWS's"),
    ],
)
def test_the_relay_is_no_way_into_a_local_service_nor_to_aws(
    cloud: tuple[Path, int], target: str, refusal: bytes
) -> None:
    state_dir, port = cloud
    answer = _connect(port, target.format(port=port), proxy_password(state_dir))
    assert answer.startswith(b"HTTP/1.1 403 "), answer
    assert refusal in answer


def test_pip_downloads_from_its_index_through_the_clouds_proxy(
    cloud_env: dict[str, str], tmp_path: Path
) -> None:
    # pip's own default index, reached through HTTPS_PROXY only (no config file, no local
    # wheels), with the CA bundle the environment exports.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull}
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"]
    done = subprocess.run(
        [*pip, "--disable-pip-version-check", "--dest", str(tmp_path / "got"), "six==1.16.0"],
        env=env | cloud_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert [p.name for p in (tmp_path / "got").iterdir()] == ["six-1.16.0-py2.py3-none-any.whl"]


def test_a_tunnel_serves_its_own_aws_name_only_and_still_needs_the_key(
    cloud: tuple[Path, int],
) -> None:
    state_dir, port = cloud
    context = ssl.create_default_context(cafile=str(state_dir / "ca.pem"))

    def through_tunnel(host_header: str) -> bytes:
        token = base64.b64encode(f"smlocal:{proxy_password(state_dir)}".encode()).decode()
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(
            b"CONNECT sts.amazonaws.com:443 HTTP/1.1\r\n"
            + f"Proxy-Authorization: Basic {token}\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        with context.wrap_socket(sock, server_hostname="sts.amazonaws.com") as tls:
            request = f"GET /?Action=GetCallerIdentity HTTP/1.1\r\nHost: {host_header}\r\n"
            tls.sendall((request + "Connection: close\r\n\r\n").encode())
            return b"".join(iter(lambda: tls.recv(65536), b""))

    assert b"MissingAuthenticationToken" in through_tunnel("sts.amazonaws.com")  # unsigned
    assert b"is not the tunnel's" in through_tunnel(f"localhost:{port}")
    # The CA signs AWS's names only: a name constraint that TLS clients enforce.
    from cryptography import x509

    ca = x509.load_pem_x509_certificate((state_dir / "ca.pem").read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName("amazonaws.com")]


@needs_sdk_venv
def test_the_aws_cli_works_with_the_environment_alone(cloud_env: dict[str, str]) -> None:
    if not (SDK_BIN / "aws").exists():
        pytest.skip("the AWS CLI is not in .venv-sdk; `make sdk-setup` installs it")
    env = {"PATH": f"{SDK_BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}

    def aws(*args: str) -> dict:
        done = subprocess.run(
            [str(SDK_BIN / "aws"), *args, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    env |= cloud_env
    assert aws("sts", "get-caller-identity")["Account"] == "123456789012"
    aws("s3api", "create-bucket", "--bucket", "made-by-the-cli")
    # Even without AWS_ENDPOINT_URL, through the proxy by AWS's own names.
    del env["AWS_ENDPOINT_URL"]
    names = [bucket["Name"] for bucket in aws("s3api", "list-buckets")["Buckets"]]
    assert "made-by-the-cli" in names


@pytest.mark.slow
@needs_sdk_venv
def test_the_pytorch_mnist_walkthrough_runs_unmodified(
    cloud: tuple[Path, int], cloud_env: dict[str, str], tmp_path: Path
) -> None:
    state_dir, cloud_port = cloud
    data_dir, source_dir = mnist_inputs(tmp_path)
    # No SDK config file: its schema check at every default the SDK looks up is slow (run_script).
    args = [str(source_dir), str(data_dir)]
    seen = run_script(
        SDK_PYTHON, WALKTHROUGH, args, cloud_env, tmp_path, '{"bucket"', telemetry_opt_out=False
    )
    assert seen["bucket"] == "sagemaker-us-east-1-123456789012"
    assert seen["job_status"] == "Completed"
    # TrainingJobAnalytics finds in CloudWatch the metric the job's MetricDefinitions matched.
    assert set(seen["analytics"]) == {"test:accuracy"}
    assert seen["analytics"]["test:accuracy"] == pytest.approx(
        seen["final_metrics"]["test:accuracy"]
    )
    assert seen["model_data"].startswith("s3://sagemaker-us-east-1-123456789012/")
    assert seen["realtime_shape"] == [2, 10]
    assert seen["serverless_shape"] == [2, 10]

    sagemaker = control.client("sagemaker", cloud_port, state_dir)
    assert sagemaker.list_endpoints()["Endpoints"] == []  # both deleted through the SDK
