"""What this machine has: NVIDIA GPUs through NVML, CPU, RAM and disk through psutil.

    report = detect()                 # detect.py: once at start, goes into Register (HostInfo)
    print(format_report(report))      # report.py: `shareai-agent detect`
    with GpuSampler() as sampler:     # sampler.py: every heartbeat, NVML kept initialised
        loads = sampler.sample()

    facts.py     the data: GpuInfo, CpuInfo, DiskInfo, HardwareReport, GpuSample (and their protos)
    nvml.py      the NVML adapter: loading pynvml, init/shutdown, error reasons, optional queries
    detect.py    the one-off report (`detect`)
    sampler.py   live GPU load for heartbeats (`GpuSampler`)
    report.py    the `shareai-agent detect` command and its text layout

NVML is injected (`nvml=`): the default is the real `pynvml` module of nvidia-ml-py, imported
lazily so that a coordinator-only install never needs it; tests pass a fake that replays a real
reading. A machine without the library, without a loaded driver, without a GPU, or with a broken
one still gets a report: CPU only, and `gpu_status` says why no GPU is listed. Detection never
raises for an NVML problem; an initialised NVML is always shut down again.

Import from the module that owns the concept (`shareai.agent.hardware.detect` ...); this package
file only describes them.
"""
