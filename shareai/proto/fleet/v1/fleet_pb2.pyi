from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AvailabilityMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AVAILABILITY_MODE_UNSPECIFIED: _ClassVar[AvailabilityMode]
    AVAILABILITY_MODE_ALWAYS_ON: _ClassVar[AvailabilityMode]
    AVAILABILITY_MODE_IDLE: _ClassVar[AvailabilityMode]

class AvailabilityState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AVAILABILITY_STATE_UNSPECIFIED: _ClassVar[AvailabilityState]
    AVAILABILITY_STATE_AVAILABLE: _ClassVar[AvailabilityState]
    AVAILABILITY_STATE_AWAY: _ClassVar[AvailabilityState]
    AVAILABILITY_STATE_DRAINING: _ClassVar[AvailabilityState]
AVAILABILITY_MODE_UNSPECIFIED: AvailabilityMode
AVAILABILITY_MODE_ALWAYS_ON: AvailabilityMode
AVAILABILITY_MODE_IDLE: AvailabilityMode
AVAILABILITY_STATE_UNSPECIFIED: AvailabilityState
AVAILABILITY_STATE_AVAILABLE: AvailabilityState
AVAILABILITY_STATE_AWAY: AvailabilityState
AVAILABILITY_STATE_DRAINING: AvailabilityState

class GpuInfo(_message.Message):
    __slots__ = ("index", "name", "uuid", "memory_total_bytes", "memory_used_bytes", "utilization_pct", "temperature_c", "power_w", "power_limit_w", "compute_capability")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PCT_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    POWER_LIMIT_W_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    uuid: str
    memory_total_bytes: int
    memory_used_bytes: int
    utilization_pct: float
    temperature_c: float
    power_w: float
    power_limit_w: float
    compute_capability: str
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., uuid: _Optional[str] = ..., memory_total_bytes: _Optional[int] = ..., memory_used_bytes: _Optional[int] = ..., utilization_pct: _Optional[float] = ..., temperature_c: _Optional[float] = ..., power_w: _Optional[float] = ..., power_limit_w: _Optional[float] = ..., compute_capability: _Optional[str] = ...) -> None: ...

class HostInfo(_message.Message):
    __slots__ = ("hostname", "os", "arch", "cpu_model", "cpu_cores_physical", "cpu_cores_logical", "ram_total_bytes", "disk_total_bytes", "disk_free_bytes", "gpus", "driver_version", "cuda_version", "gpu_status", "agent_version")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    CPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_PHYSICAL_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_LOGICAL_FIELD_NUMBER: _ClassVar[int]
    RAM_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    DRIVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    CUDA_VERSION_FIELD_NUMBER: _ClassVar[int]
    GPU_STATUS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    os: str
    arch: str
    cpu_model: str
    cpu_cores_physical: int
    cpu_cores_logical: int
    ram_total_bytes: int
    disk_total_bytes: int
    disk_free_bytes: int
    gpus: _containers.RepeatedCompositeFieldContainer[GpuInfo]
    driver_version: str
    cuda_version: str
    gpu_status: str
    agent_version: str
    def __init__(self, hostname: _Optional[str] = ..., os: _Optional[str] = ..., arch: _Optional[str] = ..., cpu_model: _Optional[str] = ..., cpu_cores_physical: _Optional[int] = ..., cpu_cores_logical: _Optional[int] = ..., ram_total_bytes: _Optional[int] = ..., disk_total_bytes: _Optional[int] = ..., disk_free_bytes: _Optional[int] = ..., gpus: _Optional[_Iterable[_Union[GpuInfo, _Mapping]]] = ..., driver_version: _Optional[str] = ..., cuda_version: _Optional[str] = ..., gpu_status: _Optional[str] = ..., agent_version: _Optional[str] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("token", "name", "host", "node_id", "node_secret")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_SECRET_FIELD_NUMBER: _ClassVar[int]
    token: str
    name: str
    host: HostInfo
    node_id: str
    node_secret: str
    def __init__(self, token: _Optional[str] = ..., name: _Optional[str] = ..., host: _Optional[_Union[HostInfo, _Mapping]] = ..., node_id: _Optional[str] = ..., node_secret: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("node_id", "node_secret", "org")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_SECRET_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    node_secret: str
    org: str
    def __init__(self, node_id: _Optional[str] = ..., node_secret: _Optional[str] = ..., org: _Optional[str] = ...) -> None: ...

class Price(_message.Message):
    __slots__ = ("set", "input_per_mtok", "output_per_mtok")
    SET_FIELD_NUMBER: _ClassVar[int]
    INPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PER_MTOK_FIELD_NUMBER: _ClassVar[int]
    set: bool
    input_per_mtok: float
    output_per_mtok: float
    def __init__(self, set: _Optional[bool] = ..., input_per_mtok: _Optional[float] = ..., output_per_mtok: _Optional[float] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "slots", "n_ctx", "queue_limit", "endpoints", "features")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FeatureList
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FeatureList, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    N_CTX_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    name: str
    slots: int
    n_ctx: int
    queue_limit: int
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    features: _containers.MessageMap[str, FeatureList]
    def __init__(self, name: _Optional[str] = ..., slots: _Optional[int] = ..., n_ctx: _Optional[int] = ..., queue_limit: _Optional[int] = ..., endpoints: _Optional[_Iterable[str]] = ..., features: _Optional[_Mapping[str, FeatureList]] = ...) -> None: ...

class FeatureList(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("node_id", "name", "host", "models", "endpoint_url", "mode", "state", "price")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_URL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    name: str
    host: HostInfo
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    endpoint_url: str
    mode: AvailabilityMode
    state: AvailabilityState
    price: Price
    def __init__(self, node_id: _Optional[str] = ..., name: _Optional[str] = ..., host: _Optional[_Union[HostInfo, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., endpoint_url: _Optional[str] = ..., mode: _Optional[_Union[AvailabilityMode, str]] = ..., state: _Optional[_Union[AvailabilityState, str]] = ..., price: _Optional[_Union[Price, _Mapping]] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("heartbeat_interval_s", "patience", "data_plane_secret", "org")
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_FIELD_NUMBER: _ClassVar[int]
    DATA_PLANE_SECRET_FIELD_NUMBER: _ClassVar[int]
    ORG_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_s: float
    patience: int
    data_plane_secret: str
    org: str
    def __init__(self, heartbeat_interval_s: _Optional[float] = ..., patience: _Optional[int] = ..., data_plane_secret: _Optional[str] = ..., org: _Optional[str] = ...) -> None: ...

class ModelLoad(_message.Message):
    __slots__ = ("name", "slots_busy", "slots_free", "queue_depth")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLOTS_BUSY_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FREE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    slots_busy: int
    slots_free: int
    queue_depth: int
    def __init__(self, name: _Optional[str] = ..., slots_busy: _Optional[int] = ..., slots_free: _Optional[int] = ..., queue_depth: _Optional[int] = ...) -> None: ...

class GpuLoad(_message.Message):
    __slots__ = ("uuid", "utilization_pct", "memory_used_bytes", "memory_total_bytes", "power_w", "temperature_c")
    UUID_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PCT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_C_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    utilization_pct: float
    memory_used_bytes: int
    memory_total_bytes: int
    power_w: float
    temperature_c: float
    def __init__(self, uuid: _Optional[str] = ..., utilization_pct: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ..., power_w: _Optional[float] = ..., temperature_c: _Optional[float] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "seq", "state", "models", "gpus", "cpu_pct", "ram_used_bytes", "has_power", "power_w", "inflight")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    CPU_PCT_FIELD_NUMBER: _ClassVar[int]
    RAM_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    HAS_POWER_FIELD_NUMBER: _ClassVar[int]
    POWER_W_FIELD_NUMBER: _ClassVar[int]
    INFLIGHT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    seq: int
    state: AvailabilityState
    models: _containers.RepeatedCompositeFieldContainer[ModelLoad]
    gpus: _containers.RepeatedCompositeFieldContainer[GpuLoad]
    cpu_pct: float
    ram_used_bytes: int
    has_power: bool
    power_w: float
    inflight: int
    def __init__(self, node_id: _Optional[str] = ..., seq: _Optional[int] = ..., state: _Optional[_Union[AvailabilityState, str]] = ..., models: _Optional[_Iterable[_Union[ModelLoad, _Mapping]]] = ..., gpus: _Optional[_Iterable[_Union[GpuLoad, _Mapping]]] = ..., cpu_pct: _Optional[float] = ..., ram_used_bytes: _Optional[int] = ..., has_power: _Optional[bool] = ..., power_w: _Optional[float] = ..., inflight: _Optional[int] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("kind", "interval_s")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Command.Kind]
        DRAIN: _ClassVar[Command.Kind]
        SET_INTERVAL: _ClassVar[Command.Kind]
    KIND_UNSPECIFIED: Command.Kind
    DRAIN: Command.Kind
    SET_INTERVAL: Command.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    kind: Command.Kind
    interval_s: float
    def __init__(self, kind: _Optional[_Union[Command.Kind, str]] = ..., interval_s: _Optional[float] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("heartbeat_interval_s", "reregister", "commands")
    HEARTBEAT_INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_s: float
    reregister: bool
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    def __init__(self, heartbeat_interval_s: _Optional[float] = ..., reregister: _Optional[bool] = ..., commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ...) -> None: ...

class DeregisterRequest(_message.Message):
    __slots__ = ("node_id", "reason")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    reason: str
    def __init__(self, node_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeregisterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
