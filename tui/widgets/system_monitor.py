"""The machine's load while a run trains: GPU use, memory and temperature, CPU and our memory.

GPU figures come from NVIDIA's NVML (`nvidia-ml-py`, imported as `pynvml`), CPU and the app's
resident memory from psutil. A machine without NVML (no NVIDIA driver, no GPU, the package
missing) shows the CPU side only and says nothing about it; one without psutil shows the GPU
side only. Sampling runs in a thread worker (NVML calls take a few milliseconds each, a driver
can stall), which posts plain values back; the widget only formats them.

`SystemMonitor(compact=True)` is one line for a header or status area:
``GPU 87% 10.2/80G 64°C · CPU 43% · app 812M``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from rich.text import Text
from textual import work
from textual.app import RenderResult
from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

GIB = 1024**3


@dataclass(frozen=True)
class GpuSample:
    """One GPU: utilisation in percent, memory in bytes, temperature in °C (None: unknown)."""

    index: int
    name: str
    utilisation: float | None
    memory_used: int | None
    memory_total: int | None
    temperature: float | None


@dataclass(frozen=True)
class SystemSample:
    """What one look at the machine found (None: not available here)."""

    cpu_percent: float | None
    process_memory: int | None
    gpus: tuple[GpuSample, ...] = field(default_factory=tuple)


def _import(name: str) -> ModuleType | None:
    try:
        return __import__(name)
    except ImportError:
        return None


class Sampler:
    """Reads the machine; the modules can be given (tests pass fakes). NVML is initialised
    once; if that fails, the GPU side is off for good, without an error."""

    def __init__(self, nvml: Any = "auto", psutil: Any = "auto") -> None:
        self.psutil = _import("psutil") if psutil == "auto" else psutil
        self.nvml = _import("pynvml") if nvml == "auto" else nvml
        self.gpu_count = 0
        self._process = None
        #: psutil's first CPU reading covers no time (it reads 0): that one is not shown.
        self._cpu_primed = False
        if self.nvml is not None:
            try:
                self.nvml.nvmlInit()
                self.gpu_count = int(self.nvml.nvmlDeviceGetCount())
            except Exception:  # no driver, no GPU, a library that cannot load: CPU side only
                self.nvml, self.gpu_count = None, 0
        if self.psutil is not None:
            self._process = self.psutil.Process()
            self.psutil.cpu_percent(interval=None)  # starts psutil's clock

    def sample(self) -> SystemSample:
        cpu = memory = None
        if self.psutil is not None and self._process is not None:
            cpu = float(self.psutil.cpu_percent(interval=None))
            if not self._cpu_primed:
                cpu, self._cpu_primed = None, True
            memory = int(self._process.memory_info().rss)
        gpus = tuple(self._gpu(index) for index in range(self.gpu_count))
        return SystemSample(cpu, memory, gpus)

    def _gpu(self, index: int) -> GpuSample:
        nvml = self.nvml
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name = _try(lambda: nvml.nvmlDeviceGetName(handle)) or f"GPU {index}"
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        utilisation = _try(lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
        memory = _try(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        temperature = _try(lambda: float(nvml.nvmlDeviceGetTemperature(handle, sensor)))
        return GpuSample(
            index,
            str(name),
            utilisation,
            int(memory.used) if memory is not None else None,
            int(memory.total) if memory is not None else None,
            temperature,
        )

    def close(self) -> None:
        if self.nvml is not None:
            _try(self.nvml.nvmlShutdown)


def _try(function: Any) -> Any:
    """The call's result, or None where this GPU or driver does not support it."""
    try:
        return function()
    except Exception:
        return None


def _gib(value: int) -> str:
    return f"{value / GIB:.1f}"


def _size(value: int) -> str:
    """312M, 1.2G."""
    return f"{value / 2**20:.0f}M" if value < GIB else f"{value / GIB:.1f}G"


def gpu_words(gpu: GpuSample, label: str = "GPU") -> Text:
    text = Text(f"{label} ", style="bold")
    if gpu.utilisation is not None:
        text.append(f"{gpu.utilisation:.0f}%", style=_load_style(gpu.utilisation))
    if gpu.memory_used is not None and gpu.memory_total:
        text.append(f" {_gib(gpu.memory_used)}/{gpu.memory_total / GIB:.0f}G")
    if gpu.temperature is not None:
        text.append(f" {gpu.temperature:.0f}°C", style="bold red" if gpu.temperature >= 85 else "")
    return text


def _load_style(percent: float) -> str:
    return "bold green" if percent >= 70 else ("yellow" if percent >= 30 else "dim")


def sample_line(sample: SystemSample, gpu_index: int | None = None) -> Text:
    """The one-line form: the chosen GPU (else the first, with a count of the others), then
    the CPU and the app's memory."""
    parts: list[Text] = []
    if sample.gpus:
        chosen = next((g for g in sample.gpus if g.index == gpu_index), sample.gpus[0])
        label = f"GPU{chosen.index}" if len(sample.gpus) > 1 else "GPU"
        words = gpu_words(chosen, label)
        if len(sample.gpus) > 1:
            words.append(f" (+{len(sample.gpus) - 1})", style="dim")
        parts.append(words)
    if sample.cpu_percent is not None:
        cpu = Text("CPU ", style="bold")
        cpu.append(f"{sample.cpu_percent:.0f}%", style=_load_style(sample.cpu_percent))
        parts.append(cpu)
    if sample.process_memory is not None:
        parts.append(Text.assemble(("app ", "bold"), _size(sample.process_memory)))
    return Text(" · ").join(parts) if parts else Text("no monitor here", style="dim")


def sample_lines(sample: SystemSample) -> Text:
    """The full form: one line per GPU with its name, then the CPU line."""
    lines = [gpu_words(g, f"GPU{g.index} {g.name}") for g in sample.gpus]
    rest = sample_line(SystemSample(sample.cpu_percent, sample.process_memory))
    lines.append(rest)
    return Text("\n").join(lines)


class SystemMonitor(Widget):
    """The machine's load, refreshed every `interval` seconds by a thread worker.

    Compact, it has a fixed size (one line, `width` in its CSS) and a new sample is only a
    repaint, never a layout of the screen (as AppHeader, for the same reason: the UI thread's
    time is the training's on a CPU run)."""

    DEFAULT_CSS = """
    SystemMonitor { height: 1; width: 52; color: $text-muted; }
    SystemMonitor.-full { height: auto; width: 1fr; }
    """

    class Sampled(Message):
        """From the worker: a new sample."""

        def __init__(self, sample: SystemSample) -> None:
            super().__init__()
            self.sample = sample

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SystemMonitor.Sampled)

    def __init__(
        self,
        *,
        compact: bool = True,
        interval: float = 2.0,
        gpu_index: int | None = None,
        sampler: Sampler | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.compact = compact
        self.set_class(not compact, "-full")
        self.interval = interval
        #: The GPU the one-line form shows (the run's `cuda:N`); None: the first.
        self.gpu_index = gpu_index
        self._sampler = sampler
        self._stop = threading.Event()
        #: The last sample shown (tests read it).
        self.sample: SystemSample | None = None

    def on_mount(self) -> None:
        self._watch()

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="system-monitor")
    def _watch(self) -> None:
        """Sample, post, wait; until the widget goes (or the worker is cancelled)."""
        worker = get_current_worker()
        sampler = self._sampler or Sampler()
        try:
            while not worker.is_cancelled and not self._stop.is_set():
                self.post_message(self.Sampled(sampler.sample()))
                self._stop.wait(self.interval)
        finally:
            if self._sampler is None:
                sampler.close()

    def on_system_monitor_sampled(self, message: SystemMonitor.Sampled) -> None:
        message.stop()
        self.show(message.sample)

    def show(self, sample: SystemSample) -> None:
        self.sample = sample
        self.refresh(layout=not self.compact)

    def render(self) -> RenderResult:
        if self.sample is None:
            return Text("")
        if self.compact:
            return sample_line(self.sample, self.gpu_index)
        return sample_lines(self.sample)
