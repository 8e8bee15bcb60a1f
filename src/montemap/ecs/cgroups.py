"""CPU and memory limits for worker processes, with Linux control groups.

:class:`CgroupManager` finds which cgroup hierarchy the machine offers
(v2, the unified hierarchy, when its ``cpu`` and ``memory`` controllers are
available to this process; otherwise v1 when ``cpu`` and ``memory`` are
mounted), and creates one group per task under a parent group (``montemap``
by default) inside this process's own cgroup:

* v2: ``cpu.max = "<quota> 100000"`` and ``memory.max = <bytes>`` (swap off);
* v1: ``cpu.cfs_period_us = 100000``, ``cpu.cfs_quota_us = <quota>`` and
  ``memory.limit_in_bytes = <bytes>`` (plus ``memory.memsw.limit_in_bytes``
  where the kernel accounts swap).

The quota is ``cpu_units / 1024`` of one core per period, as ECS reads a task
definition's ``cpu``. Whether limits can be enforced is probed once by
creating and removing a group; where they cannot (no cgroup filesystem, no
permission, a v2 parent that holds processes), :attr:`CgroupManager.support`
says so and why, and callers run workers unlimited.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: The CFS period montemap uses, in microseconds (the kernel's default).
CPU_PERIOD_US = 100_000
#: The smallest quota the kernel accepts, in microseconds.
MIN_QUOTA_US = 1_000
#: ECS's CPU unit: 1024 units are one vCPU.
UNITS_PER_VCPU = 1024

_V1_CONTROLLERS = ("cpu", "memory")


def cpu_quota_us(cpu_units: int, period_us: int = CPU_PERIOD_US) -> int:
    """The CFS quota per period that gives ``cpu_units / 1024`` of one core."""
    if cpu_units <= 0:
        raise ValueError(f"cpu_units must be positive, got {cpu_units}")
    return max(MIN_QUOTA_US, cpu_units * period_us // UNITS_PER_VCPU)


@dataclass(frozen=True)
class CgroupSupport:
    """Whether task limits are enforced, with which cgroup version, and why not."""

    limits_enforced: bool
    version: int | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "limits_enforced": self.limits_enforced,
            "cgroup_version": self.version,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Mount:
    fstype: str  # "cgroup" or "cgroup2"
    root: str  # the path inside the hierarchy that is mounted here
    point: Path
    options: frozenset[str]


def _unescape(text: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for a space)."""
    out, i = [], 0
    while i < len(text):
        digits = text[i + 1 : i + 4]
        if text[i] == "\\" and len(digits) == 3 and digits.isdigit():
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[_Mount]:
    """The cgroup (v1) and cgroup2 mounts listed in ``/proc/self/mountinfo`` text."""
    mounts = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        if not sep:
            continue
        fields, rest = head.split(), tail.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        options = frozenset(rest[2].split(",")) | frozenset(fields[5].split(","))
        mounts.append(_Mount(rest[0], _unescape(fields[3]), Path(_unescape(fields[4])), options))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` as {controller: path}; the v2 entry is keyed ``""``."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            paths[""] = path
        for name in controllers.split(","):
            if name:
                paths[name] = path
    return paths


def _inside(mount: _Mount, own: str) -> Path:
    """The directory of this process's cgroup ``own`` under ``mount``."""
    root = mount.root.rstrip("/")
    rel = own[len(root) :] if root and (own == root or own.startswith(root + "/")) else own
    return mount.point / rel.lstrip("/")


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _read_pids(path: Path) -> list[int]:
    try:
        return [int(line) for line in path.read_text().split()]
    except (OSError, ValueError):
        return []


@dataclass
class TaskCgroup:
    """The cgroup (one directory per v1 controller, one in v2) of one task."""

    name: str
    version: int
    dirs: list[Path]
    cpu_units: int | None
    memory_mib: int | None
    removed: bool = field(default=False)

    def attach(self, pid: int) -> None:
        """Move ``pid`` (and the threads it has) into the group."""
        for directory in self.dirs:
            _write(directory / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        """The processes in the group now."""
        found: set[int] = set()
        for directory in self.dirs:
            found.update(_read_pids(directory / "cgroup.procs"))
        return sorted(found)

    def throttled_periods(self) -> int:
        """How many CFS periods the group was throttled in (0 where not known)."""
        for directory in self.dirs:
            try:
                text = (directory / "cpu.stat").read_text()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "nr_throttled":
                    return int(value)
        return 0

    def remove(self, *, timeout: float = 5.0) -> bool:
        """Kill what is left in the group and delete it; whether it is gone."""
        if self.removed:
            return True
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            errors = []
            for directory in self.dirs:
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    errors.append(exc)
            if not errors:
                self.removed = True
                return True
            busy = all(exc.errno == errno.EBUSY for exc in errors)
            if not busy or time.monotonic() >= deadline:
                log.warning("could not remove cgroup %s: %s", self.name, errors[0])
                return False
            time.sleep(0.01)  # EBUSY: the kernel frees killed processes asynchronously


class CgroupManager:
    """Creates per-task cgroups under ``<own cgroup>/<parent>``.

    ``fs_root`` and the two ``/proc`` texts can be given for tests; ``parent``
    may be a relative group name or, with ``parent_dir``, an explicit v2
    directory delegated to this process (e.g. by systemd's ``Delegate=yes``).
    """

    def __init__(
        self,
        *,
        parent: str = "montemap",
        parent_dir: Path | None = None,
        mountinfo: str | None = None,
        proc_cgroup: str | None = None,
        enabled: bool = True,
    ) -> None:
        if not parent or "/" in parent or parent in (".", ".."):
            raise ValueError(f"cgroup parent must be a plain directory name, got {parent!r}")
        self.parent = parent
        self._parent_dir = parent_dir
        self._mountinfo = mountinfo
        self._proc_cgroup = proc_cgroup
        self._enabled = enabled
        self._support: CgroupSupport | None = None
        self._bases: list[Path] = []
        self._version: int | None = None

    # ------------------------------------------------------------------ detection
    @property
    def support(self) -> CgroupSupport:
        """Whether limits are enforced here (probed once, then cached)."""
        if self._support is None:
            self._support = self._probe()
        return self._support

    def _probe(self) -> CgroupSupport:
        if not self._enabled:
            return CgroupSupport(False, None, "cgroup limits disabled by configuration")
        if not sys.platform.startswith("linux"):
            return CgroupSupport(False, None, f"cgroups need Linux (this is {sys.platform})")
        try:
            mountinfo = self._mountinfo
            if mountinfo is None:
                mountinfo = Path("/proc/self/mountinfo").read_text()
            own_text = self._proc_cgroup
            if own_text is None:
                own_text = Path("/proc/self/cgroup").read_text()
        except OSError as exc:
            return CgroupSupport(False, None, f"cannot read /proc: {exc}")
        mounts = parse_mountinfo(mountinfo)
        own = parse_proc_cgroup(own_text)
        v2_reason = self._setup_v2(mounts, own)
        if v2_reason is None:
            return self._check(2)
        v1_reason = self._setup_v1(mounts, own)
        if v1_reason is None:
            return self._check(1)
        return CgroupSupport(False, None, f"{v2_reason}; {v1_reason}")

    def _setup_v2(self, mounts: list[_Mount], own: dict[str, str]) -> str | None:
        if self._parent_dir is not None:
            base = self._parent_dir
        else:
            unified = next((m for m in mounts if m.fstype == "cgroup2"), None)
            if unified is None or "" not in own:
                return "cgroup v2: no unified hierarchy mounted"
            base = _inside(unified, own[""]) / self.parent
        container = base.parent
        try:
            available = (container / "cgroup.controllers").read_text().split()
        except OSError as exc:
            return f"cgroup v2: cannot read {container / 'cgroup.controllers'}: {exc.strerror}"
        missing = [c for c in _V1_CONTROLLERS if c not in available]
        if missing:
            return f"cgroup v2: controller(s) {', '.join(missing)} not available in {container}"
        try:
            enabled = (container / "cgroup.subtree_control").read_text().split()
            if any(c not in enabled for c in _V1_CONTROLLERS):
                _write(container / "cgroup.subtree_control", "+cpu +memory")
            base.mkdir(exist_ok=True)
            _write(base / "cgroup.subtree_control", "+cpu +memory")
        except OSError as exc:
            hint = (
                " (a cgroup that holds processes cannot delegate controllers; run the server"
                " in a delegated cgroup, e.g. systemd-run --scope -p Delegate=yes)"
                if exc.errno == errno.EBUSY
                else ""
            )
            return (
                f"cgroup v2: cannot enable cpu and memory under {container}: {exc.strerror}{hint}"
            )
        self._bases, self._version = [base], 2
        return None

    def _setup_v1(self, mounts: list[_Mount], own: dict[str, str]) -> str | None:
        bases = []
        for controller in _V1_CONTROLLERS:
            mount = next(
                (m for m in mounts if m.fstype == "cgroup" and controller in m.options), None
            )
            if mount is None:
                return f"cgroup v1: no {controller} hierarchy mounted"
            base = _inside(mount, own.get(controller, "/")) / self.parent
            try:
                base.mkdir(exist_ok=True)
            except OSError as exc:
                return f"cgroup v1: cannot create {base}: {exc.strerror}"
            bases.append(base)
        self._bases, self._version = bases, 1
        return None

    def _check(self, version: int) -> CgroupSupport:
        probe = f"probe-{os.getpid()}-{time.monotonic_ns()}"
        try:
            group = self.create(probe, cpu_units=512, memory_mib=64, _checked=True)
        except OSError as exc:
            return CgroupSupport(False, version, f"cgroup v{version}: cannot create a group: {exc}")
        group.remove()
        where = ", ".join(str(b) for b in self._bases)
        return CgroupSupport(True, version, f"cgroup v{version} limits under {where}")

    # ------------------------------------------------------------------ groups
    def create(
        self, name: str, *, cpu_units: int | None, memory_mib: int | None, _checked: bool = False
    ) -> TaskCgroup:
        """Create the group ``name`` with the given limits (None: no limit of that kind).

        Raises ``RuntimeError`` where limits are not enforced here, ``OSError``
        when the kernel refuses.
        """
        if not _checked and not self.support.limits_enforced:
            raise RuntimeError(f"cgroup limits are not enforced: {self.support.reason}")
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"cgroup name must be a plain directory name, got {name!r}")
        assert self._version is not None
        dirs = [base / name for base in self._bases]
        group = TaskCgroup(name, self._version, dirs, cpu_units, memory_mib)
        try:
            for directory in dirs:
                directory.mkdir(parents=True, exist_ok=True)
            if self._version == 2:
                self._limit_v2(dirs[0], cpu_units, memory_mib)
            else:
                self._limit_v1(dirs[0], dirs[1], cpu_units, memory_mib)
        except OSError:
            group.remove(timeout=0.5)
            raise
        return group

    @staticmethod
    def _limit_v2(directory: Path, cpu_units: int | None, memory_mib: int | None) -> None:
        if cpu_units is not None:
            _write(directory / "cpu.max", f"{cpu_quota_us(cpu_units)} {CPU_PERIOD_US}")
        if memory_mib is not None:
            _write(directory / "memory.max", str(memory_mib * 1024 * 1024))
            swap = directory / "memory.swap.max"
            if swap.exists():
                _write(swap, "0")

    @staticmethod
    def _limit_v1(cpu: Path, memory: Path, cpu_units: int | None, memory_mib: int | None) -> None:
        if cpu_units is not None:
            _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(cpu / "cpu.cfs_quota_us", str(cpu_quota_us(cpu_units)))
        if memory_mib is not None:
            limit = str(memory_mib * 1024 * 1024)
            _write(memory / "memory.limit_in_bytes", limit)
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                with contextlib.suppress(OSError):  # swap accounting may be off
                    _write(swap, limit)

    def group(self, name: str) -> TaskCgroup | None:
        """The existing group ``name`` (e.g. left by a crashed server), or None."""
        if not self.support.limits_enforced or not name or "/" in name:
            return None
        assert self._version is not None
        dirs = [base / name for base in self._bases]
        if not any(d.is_dir() for d in dirs):
            return None
        return TaskCgroup(name, self._version, dirs, None, None)

    def close(self) -> None:
        """Remove the parent group where it is empty (other servers may share it)."""
        for base in self._bases:
            with contextlib.suppress(OSError):
                base.rmdir()
