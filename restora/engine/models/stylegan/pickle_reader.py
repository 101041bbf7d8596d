"""Python pickles read as plain data: NVlabs StyleGAN ``.pkl`` files without running them.

NVlabs' own loader imports ``torch_utils.persistence``, which ``exec``s the Python source
embedded in the pickle. Here nothing from a file is imported, called or executed:

- every global a pickle names is looked up in :data:`ALLOWED`, a table of our own small
  functions that rebuild that global's *data* (a dict, a tensor, a number); any other global
  is refused (UnsafeModelError) before anything is imported;
- calls (REDUCE), object creation (NEWOBJ) and state setting (BUILD) are allowed only on
  those functions and on our own placeholder classes, never on whatever else is on the stack;
- a ``torch_utils.persistence`` object becomes a :class:`Record` holding its recorded state;
  its ``module_src`` is kept as a string and never executed;
- the container opcodes (APPEND, SETITEM, ADDITEMS, ...) act only on plain lists, dicts and
  sets, whose keys are names or numbers: pickle would otherwise call ``.add`` or
  ``__setitem__`` on whatever is on the stack (a tensor: broadcasting, gigabytes), and hash
  keys of any depth (a tuple nested a million deep overflows the C stack);
- the rebuilders' work is charged against the file's size: the memo (BINGET) lets a few bytes
  hand the same big list, array state or storage to a rebuilder again and again.

Tensors inside NVlabs pickles are pickled by torch itself: ``_rebuild_tensor_v2(storage, ...)``
where the storage is ``torch.storage._load_from_bytes(b)`` and ``b`` a nested legacy
(non-zip) ``torch.save`` stream: five pickles (magic number, protocol 1001, system info, the
storage as a persistent id ``('storage', FloatStorage, key, location, numel, None)``, the key
list) followed by, per key, its element count (int64, little-endian) and raw little-endian
bytes. That stream is parsed here too, by the same restricted unpickler.
"""
from __future__ import annotations

import io
import os
import pickle
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ...jobs import ModelError, UnsafeModelError
from ..base import printable

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C       # torch.serialization.MAGIC_NUMBER
LEGACY_PROTOCOL = 1001
MAX_RECORDS = 100_000                        # persistent objects in one file (FFHQ-1024: ~1 000)
MAX_DEPTH = 200                              # nesting of containers when made plain
WORK_SLACK = 1 << 20                         # rebuilder work allowed beyond the file's size


class Refused(Exception):
    """A pickle asked for something outside the allow-list (turned into UnsafeModelError)."""


@dataclass
class Record:
    """A ``torch_utils.persistence`` object as the file records it; never instantiated.

    ``state`` is the module's ``__dict__``: ``_parameters``, ``_buffers`` and ``_modules``
    (name → tensor / Record) plus plain attributes (``z_dim``, ``weight_gain``, ...).
    """
    class_name: str
    module_src: str          # the source NVlabs would exec: kept as text only
    version: int
    state: dict

    def attr(self, name: str, default: Any = None) -> Any:
        return self.state.get(name, default)

    @property
    def parameters(self) -> dict:
        return _mapping(self.state.get("_parameters"))

    @property
    def buffers(self) -> dict:
        return _mapping(self.state.get("_buffers"))

    @property
    def modules(self) -> dict:
        return _mapping(self.state.get("_modules"))

    @property
    def init_kwargs(self) -> dict:
        return _mapping(self.state.get("_init_kwargs", self.state.get("init_kwargs")))


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


# --- placeholders: our own classes, the only things BUILD and NEWOBJ may touch ----------------

class _EasyDict(dict):
    """``dnnlib.util.EasyDict``: a dict (made a plain dict afterwards)."""

    def __setstate__(self, state) -> None:
        if state:   # an EasyDict keeps its items as dict items, never as attributes
            raise Refused("state on an EasyDict")


@dataclass
class _DType:
    """``numpy.dtype(name, align, copy)`` plus its BUILD state (the byte order)."""
    name: str
    byteorder: str = "="

    def __setstate__(self, state) -> None:
        if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "=")):
            raise Refused("numpy dtype state")
        if any(part is not None for part in state[2:5]):   # subarrays, named fields
            raise Refused("structured numpy dtype")
        self.byteorder = state[1]

    def numpy(self) -> np.dtype:
        dtype = np.dtype(self.name)
        if dtype.kind not in "biufc":       # numbers only: never object or void dtypes
            raise Refused(f"numpy dtype {self.name}")
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" else dtype


class _NDArrayClass:
    """Stands for ``numpy.ndarray`` as an argument of ``_reconstruct``."""


@dataclass
class _Array:
    """``numpy.core.multiarray._reconstruct(ndarray, ...)``; BUILD gives shape, dtype, bytes."""
    value: Optional[np.ndarray] = None

    def __setstate__(self, state) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise Refused("numpy array state")
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DType) or not isinstance(raw, (bytes, bytearray)):
            raise Refused("numpy array data")
        if not (isinstance(shape, tuple) and all(type(s) is int and s >= 0 for s in shape)):
            raise Refused("numpy array shape")
        dt = dtype.numpy()
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count * dt.itemsize != len(raw):
            raise Refused("numpy array size")
        array = np.frombuffer(bytes(raw), dtype=dt, count=count)
        self.value = array.reshape(shape, order="F" if fortran else "C").copy()


_CONSTRUCTIBLE = (_EasyDict,)                 # what NEWOBJ may create
_BUILDABLE = (_EasyDict, _DType, _Array)      # what BUILD may set state on


@dataclass
class _Storage:
    """A storage rebuilt from a nested ``torch.save`` stream: a flat CPU tensor."""
    flat: torch.Tensor


@dataclass(frozen=True)
class _StorageType:
    """``torch.FloatStorage`` and friends, inside the nested stream's persistent ids."""
    dtype: torch.dtype


@dataclass
class _PendingStorage:
    key: str
    dtype: torch.dtype
    numel: int


_STORAGE_TYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


# --- the rebuilders: each checks its arguments and returns data ---------------------------------

def _record(meta) -> Record:
    if not isinstance(meta, dict):
        raise Refused("a persistent object without its record")
    state, src, name = meta.get("state"), meta.get("module_src"), meta.get("class_name")
    if meta.get("type") != "class" or not isinstance(name, str) or not isinstance(src, str) \
            or not isinstance(state, dict):
        raise Refused("a persistent object whose record is not a class's state")
    version = meta.get("version")
    return Record(name, src, version if type(version) is int else -1, state)


def _ordered_dict(items=()) -> dict:
    out = {}
    for pair in items:   # protocol 0/1 files pass [[key, value], ...]
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise Refused("OrderedDict items")
        out[_key(pair[0])] = pair[1]
    return out


def _set(items=()) -> set:
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise Refused("set items")
    return set(_keys(items))


def _key(key):
    """A dict key or set item: a name or a number (NVlabs' are names). Anything else would be
    hashed by Python: a deep tuple's hash recurses in C past the stack, a wide one costs its
    length every time the memo hands it over again."""
    if type(key) in (str, float, bool) or key is None or (type(key) is int and key.bit_length() <= 64):
        return key
    raise Refused(f"a dict key or set item that is a {type(key).__name__}")


def _keys(items):
    for item in items:
        _key(item)
    return items


def _tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2``: a bounds-checked view of ``storage``."""
    del requires_grad, hooks, metadata  # inference only: no autograd state is kept
    if not isinstance(storage, _Storage):
        raise Refused("a tensor without its storage")
    ints = lambda v: isinstance(v, tuple) and all(type(x) is int and x >= 0 for x in v)  # noqa: E731
    if type(offset) is not int or offset < 0 or not ints(size) or not ints(stride) or len(size) != len(stride):
        raise Refused("tensor shape")
    numel = int(np.prod(size, dtype=np.int64)) if size else 1
    held = storage.flat.numel()
    if numel:
        last = offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= held or numel > held:   # outside the storage, or an expanded "bomb"
            raise Refused(f"a tensor of {numel:,} elements over a storage of {held:,}")
    # a view of the file's bytes (read-only memory): whoever uses a tensor copies it (nvlabs.state_of),
    # so the training G, D and augment_pipe a snapshot also holds never cost a copy
    return torch.as_strided(storage.flat, size, stride, offset)


def _parameter(data, requires_grad=False, hooks=None, state=None) -> torch.Tensor:
    """``torch._utils._rebuild_parameter(_with_state)``: the plain tensor."""
    del requires_grad, hooks, state
    if not isinstance(data, torch.Tensor):
        raise Refused("a parameter without a tensor")
    return data


def _storage_from_bytes(data) -> _Storage:
    """``torch.storage._load_from_bytes``: the nested legacy torch.save stream, parsed here."""
    if not isinstance(data, (bytes, bytearray)):
        raise Refused("storage bytes")
    return read_legacy_storage(bytes(data))


def _np_dtype(name, align=False, copy=False) -> _DType:
    if not isinstance(name, str) or len(name) > 8:
        raise Refused("numpy dtype")
    _DType(name).numpy()   # refuses anything but numbers at once
    return _DType(name)


def _np_scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar``: the number as a plain Python number."""
    if not isinstance(dtype, _DType) or not isinstance(data, (bytes, bytearray)):
        raise Refused("numpy scalar")
    dt = dtype.numpy()
    if len(data) != dt.itemsize:
        raise Refused("numpy scalar size")
    return np.frombuffer(bytes(data), dtype=dt)[0].item()


def _np_reconstruct(cls, shape=(0,), dtype_code=b"b") -> _Array:
    if cls is not _NDArrayClass:
        raise Refused("numpy array of another class")
    return _Array()


def _latin1(text, encoding="latin1") -> bytes:
    """``_codecs.encode``: how protocol-2 pickles spell bytes (text in latin-1, nothing else)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refused("_codecs.encode")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _record,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("collections", "OrderedDict"): _ordered_dict,
    ("builtins", "set"): _set,
    ("builtins", "frozenset"): _set,
    ("__builtin__", "set"): _set,          # protocol 2 spells builtins the Python 2 way
    ("__builtin__", "frozenset"): _set,
    ("_codecs", "encode"): _latin1,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy", "dtype"): _np_dtype,
    ("numpy", "ndarray"): _NDArrayClass,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
}
_CALLABLE = frozenset(id(f) for f in ALLOWED.values() if f is not _NDArrayClass and f is not _EasyDict)


class _Unpickler(pickle._Unpickler):
    """Python's own pickle machine with find_class, calls and state setting restricted."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, storages: Optional[dict] = None, nested: bool = False, work: int = 0):
        super().__init__(file)
        self._storages = storages      # the nested stream's persistent ids (else refused)
        self._nested = nested          # a storage's own torch.save stream: storage types only
        self._records = 0
        self._work_left = work         # elements the rebuilders may still handle (see _charge)

    def find_class(self, module, name):
        key = (module, name)
        if module == "torch" and self._storages is not None and name in _STORAGE_TYPES:
            return _StorageType(_STORAGE_TYPES[name])
        if self._nested:   # torch.save of one storage names nothing else (no rebuilders, no nesting)
            raise Refused(f"{module}.{name} inside a storage")
        if module.startswith("dnnlib.tflib"):
            raise Refused("TensorFlow")
        if key not in ALLOWED:
            raise Refused(f"{module}.{name}")
        return ALLOWED[key]

    def persistent_load(self, pid):
        if self._storages is None or not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise Refused("a persistent id outside a tensor storage")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) \
                or type(numel) is not int or numel < 0 or view is not None:
            raise Refused("storage id")
        pending = self._storages.setdefault(key, _PendingStorage(key, storage_type.dtype, numel))
        if (pending.dtype, pending.numel) != (storage_type.dtype, numel):
            raise Refused("storage id")
        return pending

    def _charge(self, values) -> None:
        """Count the lengths of a rebuilder's arguments against the file's size. In a real file
        each list, bytes or shape reaches a rebuilder once (and takes at least that many bytes);
        through the memo a small file could hand the same big one over a million times."""
        self._work_left -= sum(len(v) for v in values
                               if isinstance(v, (str, bytes, bytearray, list, tuple, dict, set, frozenset)))
        if self._work_left < 0:
            raise Refused("the same data rebuilt over and over (more work than the file holds)")

    def _reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in _CALLABLE or not isinstance(args, tuple):
            raise Refused(f"a call to {type(func).__name__}")
        self._charge(args)
        if func is _record:
            self._records += 1
            if self._records > MAX_RECORDS:
                raise Refused("too many objects")
        self.stack[-1] = func(*args)

    def _newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls not in _CONSTRUCTIBLE or args:
            raise Refused(f"creating a {getattr(cls, '__name__', type(cls).__name__)}")
        self.append(cls())

    def _build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, _BUILDABLE):
            raise Refused(f"setting the state of a {type(inst).__name__}")
        self._charge(state if isinstance(state, tuple) else (state,))
        inst.__setstate__(state)

    # Containers: pickle calls .append/.extend/.add/__setitem__ on whatever is on the stack, and
    # hashes any key; here only plain lists, dicts and sets, keyed by names and numbers.
    def _target(self, types):
        target = self.stack[-1]
        if type(target) not in types:
            raise Refused(f"adding items to a {type(target).__name__}")
        return target

    def _append(self):
        value = self.stack.pop()
        self._target((list,)).append(value)

    def _appends(self):
        items = self.pop_mark()
        self._target((list,)).extend(items)

    def _setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._target((dict, _EasyDict))[_key(key)] = value

    def _setitems(self):
        items = self.pop_mark()
        target = self._target((dict, _EasyDict))
        for i in range(0, len(items), 2):
            target[_key(items[i])] = items[i + 1]

    def _dict(self):
        items = self.pop_mark()
        self.append({_key(items[i]): items[i + 1] for i in range(0, len(items), 2)})

    def _additems(self):
        items = self.pop_mark()
        self._target((set,)).update(_keys(items))

    def _frozenset(self):
        self.append(frozenset(_keys(self.pop_mark())))

    def _refuse(self):
        raise Refused("an opcode that builds arbitrary objects")

    dispatch[pickle.REDUCE[0]] = _reduce
    dispatch[pickle.NEWOBJ[0]] = _newobj
    dispatch[pickle.BUILD[0]] = _build
    dispatch[pickle.APPEND[0]] = _append
    dispatch[pickle.APPENDS[0]] = _appends
    dispatch[pickle.SETITEM[0]] = _setitem
    dispatch[pickle.SETITEMS[0]] = _setitems
    dispatch[pickle.DICT[0]] = _dict
    dispatch[pickle.ADDITEMS[0]] = _additems
    dispatch[pickle.FROZENSET[0]] = _frozenset
    for _op in (pickle.NEWOBJ_EX, pickle.INST, pickle.OBJ, pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse
    del _op


def read_legacy_storage(data: bytes) -> _Storage:
    """The one storage a nested legacy ``torch.save`` stream holds (see the module docstring)."""
    stream = io.BytesIO(data)

    def next_pickle(storages=None):
        return _Unpickler(stream, storages, nested=True).load()

    if next_pickle() != LEGACY_MAGIC or next_pickle() != LEGACY_PROTOCOL:
        raise Refused("a storage that is not a torch.save stream")
    info = next_pickle()
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise Refused("a big-endian storage")
    storages: dict = {}
    obj = next_pickle(storages)
    keys = next_pickle()
    if not isinstance(obj, _PendingStorage) or keys != [obj.key] or set(storages) != {obj.key}:
        raise Refused("a storage stream holding other objects")
    (numel,) = struct.unpack("<q", stream.read(8).ljust(8, b"\0"))
    size = torch.empty((), dtype=obj.dtype).element_size()
    start = stream.tell()
    if numel != obj.numel or start + numel * size > len(data):
        raise Refused("a truncated storage")
    if not numel:
        return _Storage(torch.empty(0, dtype=obj.dtype))
    with warnings.catch_warnings():   # read-only memory: tensors made from it are views, copied when used
        warnings.simplefilter("ignore")
        flat = torch.frombuffer(memoryview(data)[start:start + numel * size], dtype=obj.dtype)
    return _Storage(flat)


def _plain(value, depth: int = 0, seen: Optional[dict] = None):
    """Placeholders replaced by plain values (EasyDict → dict, arrays, dtypes), in place.

    Each container is visited once (``seen``): a pickle may share one list between many
    places, or nest shared lists so that walking every path would never end."""
    seen = {} if seen is None else seen
    if depth > MAX_DEPTH:
        raise Refused("containers nested too deep")
    key = id(value)
    if key in seen:
        return seen[key]
    if isinstance(value, _Array):
        return value.value
    if isinstance(value, _DType):
        return value.numpy()
    if isinstance(value, Record):
        seen[key] = value
        value.state = _plain(value.state, depth + 1, seen)
        return value
    if isinstance(value, dict):
        out = value if type(value) is dict else {}
        seen[key] = out
        items = [(k, _plain(v, depth + 1, seen)) for k, v in value.items()]
        out.clear() if out is value else None
        out.update(items)
        return out
    if isinstance(value, list):
        seen[key] = value
        value[:] = [_plain(v, depth + 1, seen) for v in value]
        return value
    if isinstance(value, tuple):
        out = tuple(_plain(v, depth + 1, seen) for v in value)
        seen[key] = out
        return out
    if isinstance(value, (_Storage, _PendingStorage, _StorageType)) or value is _NDArrayClass:
        raise Refused("a bare storage")
    return value


def read_pickle(path: Path) -> Any:
    """The data a plain (non-torch.save) pickle holds, read without running anything in it.

    UnsafeModelError for a global outside the allow-list (the way hostile pickles run code),
    ModelError for a damaged file.
    """
    try:
        with open(path, "rb") as fh:
            return _plain(_Unpickler(fh, work=2 * os.fstat(fh.fileno()).st_size + WORK_SLACK).load())
    except Refused as exc:
        what = str(exc)
        if what == "TensorFlow":
            raise ModelError(f"{path}: a TensorFlow-era StyleGAN pickle (dnnlib.tflib); Restora reads the PyTorch "
                             "ones (stylegan2-ada-pytorch, stylegan3)") from None
        raise UnsafeModelError(f"{path}: refused to load: the pickle asks for {printable(what, 80)}, not just "
                               "weights and settings, so nothing in it was run") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except MemoryError as exc:
        raise ModelError(f"{path}: the model file is too large to read here") from exc
    except Exception as exc:  # noqa: BLE001 - any parse failure is "damaged"
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:100]
        raise ModelError(f"{path}: the model file is truncated or damaged ({printable(first, 100)})") from None


__all__ = ["Record", "read_pickle", "read_legacy_storage", "ALLOWED"]
