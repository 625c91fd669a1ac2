"""A real Ray cluster of several nodes on this machine, on a loopback address only, started and stopped by pid.

For trying ``--engine ray`` on one machine as it runs on many, and for the tests, CI and the engine benchmark:
each node is a ``ray start --block`` process of its own (the head first), so the cluster has the same parts as
one spread over machines (a GCS, one raylet and object store per node, tasks and actors placed across nodes).

Every node listens on a loopback address (default ``127.0.0.2``; Ray maps ``127.0.0.1`` and ``localhost`` to
the machine's outward address, so a second loopback address is what keeps it on this machine). Workers import
crossling from where this process does (its folder is put first on their ``PYTHONPATH``).

From a shell (what ``.ci/run`` does)::

    address=$(python -m crossling.engine.localcluster start --nodes 2 --state DIR)   # prints HOST:PORT
    python -m crossling.engine.localcluster stop --state DIR                         # stops those nodes only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crossling.exceptions import EngineError

__all__ = ["LocalCluster"]

_READY = "will now block"  # what `ray start --block` prints once its node has joined


def _ray_executable() -> str:
    candidate = Path(sys.executable).with_name("ray")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("ray")
    if found is None:
        raise EngineError("no `ray` command next to this Python or on PATH: pip install 'crossling[ray]'")
    return found


class LocalCluster:
    """A head node and ``nodes - 1`` more on this machine; :meth:`start` them, :meth:`stop` them.

    Parameters
    ----------
    nodes : int, default 2
        Nodes, the head included (at least 1).
    cpus_per_node : int, default 1
        CPUs each node offers to tasks.
    object_store_bytes : int, default 100_000_000
        Object store size of each node (Ray's minimum is about 75 MB).
    host : str, default "127.0.0.2"
        Loopback address every node listens on.
    state_dir : path, optional
        Folder for Ray's session files, the nodes' logs and ``cluster.json`` (address and pids); default a new
        temporary folder. A short path: Ray's socket paths live under it.

    Attributes
    ----------
    address : str or None
        ``HOST:PORT`` of the head once started.
    pids : list of int
        The ``ray start`` processes, head first.
    state_dir : Path

    Raises
    ------
    ValueError
        For fewer than one node or CPU.
    """

    def __init__(self, nodes: int = 2, *, cpus_per_node: int = 1, object_store_bytes: int = 100_000_000,
                 host: str = "127.0.0.2", state_dir: str | os.PathLike | None = None):
        if nodes < 1 or cpus_per_node < 1:
            raise ValueError(f"a cluster needs at least one node and one CPU per node, got {nodes} and {cpus_per_node}")
        self.nodes, self.cpus_per_node, self.host = nodes, cpus_per_node, host
        self.object_store_bytes = object_store_bytes
        self.state_dir = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="crossling-ray-"))
        self.address: str | None = None
        self.pids: list[int] = []

    def _environment(self) -> dict[str, str]:
        import crossling

        source = str(Path(crossling.__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [env.get("PYTHONPATH")])])
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        return env

    def _launch(self, args: list[str], log: Path, *, timeout: float) -> int:
        with open(log, "wb") as out:
            process = subprocess.Popen([_ray_executable(), "start", "--block", *args], stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._environment(),
                                       start_new_session=True)  # its own process group: stopped as one
        self.pids.append(process.pid)
        deadline = time.monotonic() + timeout
        while _READY not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                self.stop()
                raise EngineError(f"a Ray node did not start ({log}):\n{tail}")
            time.sleep(0.2)
        return process.pid

    def start(self, *, timeout: float = 120.0) -> str:
        """Start the head, then the other nodes; return once every node has joined.

        Parameters
        ----------
        timeout : float, default 120.0
            Seconds each node may take to start.

        Returns
        -------
        str
            The head's address, ``HOST:PORT``.

        Raises
        ------
        EngineError
            When a node does not start (its log's tail is in the message); the nodes started are stopped.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        common = [f"--node-ip-address={self.host}", f"--num-cpus={self.cpus_per_node}", "--num-gpus=0",
                  f"--object-store-memory={self.object_store_bytes}", "--disable-usage-stats"]
        self._launch(["--head", "--port=0", "--include-dashboard=false", f"--temp-dir={self.state_dir}", *common],
                     self.state_dir / "node-0.log", timeout=timeout)
        self.address = (self.state_dir / "ray_current_cluster").read_text().strip()
        for index in range(1, self.nodes):
            self._launch([f"--address={self.address}", *common], self.state_dir / f"node-{index}.log", timeout=timeout)
        self._save()
        return self.address

    def _save(self) -> None:
        (self.state_dir / "cluster.json").write_text(json.dumps({"address": self.address, "pids": self.pids}))

    @classmethod
    def attach(cls, state_dir: str | os.PathLike) -> LocalCluster:
        """The cluster a :meth:`start` (maybe in another process) recorded in ``state_dir``.

        Parameters
        ----------
        state_dir : path

        Returns
        -------
        LocalCluster
            With ``address`` and ``pids`` read from ``state_dir/cluster.json`` (none when it is missing).
        """
        cluster = cls(state_dir=state_dir)
        record = Path(state_dir) / "cluster.json"
        if record.is_file():
            saved = json.loads(record.read_text())
            cluster.address, cluster.pids = saved["address"], saved["pids"]
        return cluster

    def stop(self, *, grace: float = 45.0) -> None:
        """Stop the nodes this cluster started (the other nodes first), then remove ``state_dir``.

        Each ``ray start --block`` process gets SIGTERM, on which it drains its node and stops the node's
        processes; whatever of its process group is still there after ``grace`` seconds gets SIGKILL.

        Parameters
        ----------
        grace : float, default 45.0
            Seconds a node may take to stop (Ray drains for up to 30).
        """
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
        for pid in self.pids:
            try:
                os.killpg(pid, signal.SIGKILL)  # the node's leftovers, by its process group's id
            except (ProcessLookupError, PermissionError):
                pass
        self.pids = []
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        return finished == 0
    except ChildProcessError:  # not our child (started by another process): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def main(argv: list[str] | None = None) -> None:
    """``start`` (prints the address) or ``stop`` a local cluster recorded in ``--state``."""
    parser = argparse.ArgumentParser(prog="python -m crossling.engine.localcluster", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--state", type=Path, required=True, help="folder for the cluster's files and record")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.2")
    args = parser.parse_args(argv)
    if args.action == "start":
        cluster = LocalCluster(args.nodes, cpus_per_node=args.cpus_per_node, host=args.host, state_dir=args.state)
        print(cluster.start())
    else:
        LocalCluster.attach(args.state).stop()


if __name__ == "__main__":
    main()
