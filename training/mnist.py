"""Train the MNIST CNN: a SageMaker script-mode entry point (runs as `python mnist.py --epochs 1`).

It ships in `sourcedir.tar.gz` beside `inference.py`, which defines the network; SageMaker puts
the sourcedir first on sys.path, so the served network is the trained one by construction.
Settings come from the SageMaker training toolkit's environment (SM_CHANNEL_TRAINING,
SM_MODEL_DIR, SM_HOSTS, SM_CURRENT_HOST, SM_NUM_GPUS, SM_OUTPUT_DATA_DIR) and can be overridden
on the command line. Several hosts train data-parallel with torch.distributed (gloo on CPU,
nccl on GPU); rank 0 writes `model.pth` and `code/inference.py` into the model dir.
Metrics are printed as `train_loss=…`, `test_loss=…`, `test_accuracy=…` for MetricDefinitions.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import shutil
import socket
import struct
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import inference as serving_script

# input_fn/model_fn/output_fn/predict_fn are re-exported: the SageMaker walkthrough's
# `estimator.deploy()` serves the training entry point itself, with the handlers of code/.
from inference import Net, input_fn, model_fn, normalize, output_fn, predict_fn  # noqa: F401


def read_idx(directory: Path, stem: str) -> np.ndarray:
    """One MNIST IDX file (`stem.gz` or plain `stem`) as a uint8 array."""
    for path in (directory / f"{stem}.gz", directory / stem):
        if path.is_file():
            raw = path.read_bytes()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            ndim = raw[3]
            shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    raise FileNotFoundError(f"{directory}: no {stem}.gz or {stem} (MNIST IDX files)")


def load_dataset(directory: Path, prefix: str) -> TensorDataset:
    images = read_idx(directory, f"{prefix}-images-idx3-ubyte")
    labels = read_idx(directory, f"{prefix}-labels-idx1-ubyte")
    x = normalize(torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1))
    return TensorDataset(x, torch.from_numpy(labels.astype(np.int64)))


def train(args, model, device, loader, optimizer, epoch: int) -> float:
    model.train()
    total, count = torch.zeros(2, dtype=torch.float64), 0
    for batch_idx, (data, target) in enumerate(loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        total += torch.tensor([loss.item() * len(data), len(data)], dtype=torch.float64)
        count += len(data)
        if batch_idx % args.log_interval == 0:
            print(
                f"Train Epoch: {epoch} [{count}/{len(loader.sampler)}] loss={loss.item():.6f}",
                flush=True,
            )
        if args.dry_run:
            break
    if dist.is_initialized():
        dist.all_reduce(total)  # the epoch's loss over every host's samples
    return (total[0] / total[1]).item()


def test(model, device, loader) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    n = len(loader.dataset)
    return loss / n, correct / n


def rendezvous(master_addr: str, port: int, rank: int, world_size: int) -> dist.TCPStore:
    """The key-value store the hosts meet through, listening on `master_addr` only.

    `init_process_group`'s own store listens on every interface (0.0.0.0 / ::), so anything
    that reaches the machine could join or disturb the job. Rank 0 binds the socket itself, to
    the address of `hosts[0]` (algo-1 on SageMaker, 127.0.0.1 locally), and hands it over."""
    timeout = datetime.timedelta(minutes=5)
    if rank != 0:
        return dist.TCPStore(master_addr, port, world_size, is_master=False, timeout=timeout)
    listener = socket.create_server((master_addr, port))
    return dist.TCPStore(
        master_addr,
        port,
        world_size,
        is_master=True,
        timeout=timeout,
        master_listen_fd=listener.detach(),  # the store owns the socket from here on
    )


def str2bool(value: str) -> bool:
    return str(value).lower() in ("1", "true", "yes", "y")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(
        description="MNIST CNN, SageMaker script mode",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--batch-size", type=int, default=64, help="training batch size per host")
    p.add_argument("--test-batch-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1.0, help="Adadelta learning rate")
    p.add_argument("--gamma", type=float, default=0.7, help="learning rate decay per epoch")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--backend", default=None, help="torch.distributed backend [gloo, nccl on GPU]")
    p.add_argument("--log-interval", type=int, default=10, help="batches between loss lines")
    # SageMaker passes hyperparameters as `--key value`, so a flag also takes `True`/`False`.
    p.add_argument("--dry-run", type=str2bool, nargs="?", const=True, default=False)
    p.add_argument("--data-dir", type=Path, default=env.get("SM_CHANNEL_TRAINING", "data/mnist"))
    p.add_argument("--test-dir", type=Path, default=env.get("SM_CHANNEL_TEST"))
    p.add_argument("--model-dir", type=Path, default=env.get("SM_MODEL_DIR", "model"))
    p.add_argument("--output-data-dir", type=Path, default=env.get("SM_OUTPUT_DATA_DIR"))
    p.add_argument("--hosts", type=json.loads, default=env.get("SM_HOSTS", '["algo-1"]'))
    p.add_argument("--current-host", default=env.get("SM_CURRENT_HOST", "algo-1"))
    p.add_argument("--num-gpus", type=int, default=int(env.get("SM_NUM_GPUS", "0")))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    use_cuda = args.num_gpus > 0 and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    torch.manual_seed(args.seed)

    world_size = len(args.hosts)
    rank = args.hosts.index(args.current_host)
    backend = args.backend or ("nccl" if use_cuda else "gloo")
    if world_size > 1:
        port = int(os.environ.get("MASTER_PORT", "29500"))
        store = rendezvous(args.hosts[0], port, rank, world_size)
        # gloo's own sockets: on the instance's network interface (eth0 on SageMaker, the
        # loopback locally), not whatever the machine's hostname resolves to.
        if "SM_NETWORK_INTERFACE_NAME" in os.environ:
            os.environ.setdefault("GLOO_SOCKET_IFNAME", os.environ["SM_NETWORK_INTERFACE_NAME"])
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size)
    print(
        f"host={args.current_host} rank={rank} world_size={world_size} backend={backend} "
        f"device={device}",
        flush=True,
    )

    train_set = load_dataset(args.data_dir, "train")
    test_set = load_dataset(args.test_dir or args.data_dir, "t10k")
    if world_size > 1:
        sampler = DistributedSampler(train_set, world_size, rank, shuffle=True, seed=args.seed)
        train_loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
    else:
        sampler = None
        generator = torch.Generator().manual_seed(args.seed)
        train_loader = DataLoader(
            train_set, batch_size=args.batch_size, shuffle=True, generator=generator
        )
    test_loader = DataLoader(test_set, batch_size=args.test_batch_size)

    net = Net().to(device)
    model = DistributedDataParallel(net) if world_size > 1 else net
    optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=args.gamma)

    metrics: dict[str, float] = {}
    for epoch in range(1, args.epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)
        train_loss = train(args, model, device, train_loader, optimizer, epoch)
        test_loss, accuracy = test(net, device, test_loader)
        print(
            f"epoch={epoch} train_loss={train_loss:.6f} test_loss={test_loss:.6f} "
            f"test_accuracy={accuracy:.4f}",
            flush=True,
        )
        metrics = {"train_loss": train_loss, "test_loss": test_loss, "test_accuracy": accuracy}
        scheduler.step()

    if args.output_data_dir is not None:
        args.output_data_dir.mkdir(parents=True, exist_ok=True)
        (args.output_data_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if rank == 0:
        args.model_dir.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), args.model_dir / "model.pth")
        (args.model_dir / "code").mkdir(exist_ok=True)
        shutil.copy(serving_script.__file__, args.model_dir / "code" / "inference.py")
        print(f"saved model.pth and code/inference.py to {args.model_dir}", flush=True)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
