"""The system monitor with a fake NVML (a GPU, two GPUs, one that fails) and without NVML."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from app_helpers import run_async
from textual.app import App, ComposeResult

from tui.widgets.system_monitor import GIB, Sampler, SystemMonitor, sample_line, sample_lines


class FakeNvml:
    """Just the NVML calls the sampler makes, for `count` GPUs."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, count: int = 1, fail_init: bool = False) -> None:
        self.count, self.fail_init, self.shut = count, fail_init, False

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H200"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=87 - 40 * handle, memory=30)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return SimpleNamespace(used=int(10.2 * GIB), total=80 * GIB, free=0)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        if handle == 1:
            raise RuntimeError("Not Supported")
        return 64


class FakePsutil:
    class Process:
        def memory_info(self) -> Any:
            return SimpleNamespace(rss=812 * 2**20)

    def cpu_percent(self, interval: float | None = None) -> float:
        return 43.0


def test_a_gpu_through_fake_nvml_and_the_cpu_through_psutil() -> None:
    sampler = Sampler(nvml=FakeNvml(), psutil=FakePsutil())
    first = sampler.sample()  # psutil's first CPU figure covers no time: not shown
    assert first.cpu_percent is None and sample_line(first).plain.endswith("64°C · app 812M")
    line = sample_line(sampler.sample()).plain
    assert line == "GPU 87% 10.2/80G 64°C · CPU 43% · app 812M"
    full = sample_lines(sampler.sample()).plain.splitlines()
    assert full[0].startswith("GPU0 NVIDIA H200 87%") and full[1].startswith("CPU 43%")
    sampler.close()
    assert sampler.nvml.shut


def test_two_gpus_show_the_runs_one_and_a_temperature_a_gpu_lacks_is_left_out() -> None:
    sampler = Sampler(nvml=FakeNvml(count=2), psutil=FakePsutil())
    sampler.sample()
    sample = sampler.sample()
    assert sample_line(sample, gpu_index=1).plain == "GPU1 47% 10.2/80G (+1) · CPU 43% · app 812M"
    assert sample.gpus[1].temperature is None and sample.gpus[0].temperature == 64


def test_without_nvml_only_the_cpu_side_shows_and_nothing_fails() -> None:
    for nvml in (None, FakeNvml(fail_init=True)):
        sampler = Sampler(nvml=nvml, psutil=FakePsutil())
        assert sampler.gpu_count == 0
        sampler.sample()
        assert sample_line(sampler.sample()).plain == "CPU 43% · app 812M"
    assert sample_line(Sampler(nvml=None, psutil=None).sample()).plain == "no monitor here"


def test_the_real_machine_can_be_sampled() -> None:
    sampler = Sampler()  # NVML or not, whatever this machine has: no exception
    sampler.sample()
    sample = sampler.sample()
    assert sample.cpu_percent is not None and sample.process_memory > 0


class MonitorApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SystemMonitor(
            interval=0.05, sampler=Sampler(nvml=FakeNvml(), psutil=FakePsutil()), id="monitor"
        )


@run_async
async def test_the_widget_refreshes_from_its_worker_and_stops_with_the_app() -> None:
    app = MonitorApp()
    async with app.run_test() as pilot:
        monitor = app.query_one(SystemMonitor)
        for _ in range(100):
            if monitor.sample is not None:
                break
            await pilot.pause(0.02)
        assert "GPU 87%" in str(monitor.render())
        workers = [w for w in app.workers if w.group == "system-monitor"]
        assert workers and not workers[0].is_finished
    assert workers[0].is_finished  # the app's exit ends the worker
