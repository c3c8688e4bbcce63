"""Reading pickles and ``.npz`` files that someone else wrote, without running their code.

``pickle.load`` executes whatever the file asks for (``os.system`` included), so untrusted
pickles are read with :class:`RestrictedUnpickler`, which admits only what saved numpy arrays and
plain Python values need: numpy's array and dtype reconstructors, and builtin containers and
scalars. Anything else -- a function, a class, a module -- is refused before it is looked up.

TensorFlow's ``ListWrapper`` (CosmoPower's pickles hold their layer sizes and parameter names in
it) is read as the plain ``list`` it wraps: that global is never imported.
"""

from __future__ import annotations

import builtins
import io
import pickle
import zipfile

import numpy as np

from .._zelos import ZelosError

#: Globals a pickle of numpy arrays legitimately names (numpy 1.x and 2.x spellings). The helpers
#: are taken from numpy's own reductions, so they are the right ones for the installed numpy.
_NUMPY = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _NUMPY[(_module, "_reconstruct")] = np.zeros(1).__reduce__()[0]
    _NUMPY[(_module, "scalar")] = np.float64(0).__reduce__()[0]
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    # Protocol-5 pickles of arrays (`_frombuffer(buffer, dtype, shape, order)`).
    _NUMPY[(_module, "_frombuffer")] = lambda buf, dtype, shape, order: np.frombuffer(buf, dtype=dtype).reshape(
        shape, order=order)

#: Builtins that build values only (no getattr, eval, exec, open, __import__ ...).
_BUILTINS = {name: getattr(builtins, name)
             for name in ("list", "tuple", "dict", "set", "frozenset", "int", "float", "complex", "str",
                          "bytes", "bytearray", "bool")}

#: TensorFlow's list wrapper, under the module paths TF has used for it: read as a list.
_LIST_WRAPPERS = {
    ("tensorflow.python.trackable.data_structures", "ListWrapper"),
    ("tensorflow.python.training.tracking.data_structures", "ListWrapper"),
}


class UnsafeFileError(ZelosError):
    """A file asked for something other than data (or is not a readable pickle / npz)."""


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it to store bytes: latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"`_codecs.encode` with encoding {encoding!r}")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only numpy array/dtype helpers and value-building builtins."""

    def __init__(self, file, origin: str):
        super().__init__(file)
        self.origin = origin

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY:
            return _NUMPY[(module, name)]
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if (module, name) in _LIST_WRAPPERS:
            return list
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        raise UnsafeFileError(
            f"{self.origin}: refused to unpickle `{module}.{name}`: only numpy arrays and plain values "
            "(lists, dicts, numbers, strings) are read from pickles; this one asks to run other code, "
            "so it was not loaded")

    def persistent_load(self, pid):
        raise UnsafeFileError(f"{self.origin}: refused a persistent reference in the pickle; expected plain data")


def loads(data: bytes, origin: str):
    """Unpickles ``data`` (from ``origin``, named in errors) with :class:`RestrictedUnpickler`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), origin).load()
    except UnsafeFileError:
        raise
    except Exception as e:  # a truncated or corrupt pickle: say so, naming the file
        raise UnsafeFileError(f"{origin}: not a readable pickle ({type(e).__name__}: {e}); "
                              "expected a pickle of numpy arrays and plain values") from None


#: Largest ``.npz`` member read (decompressed): far above any network, far below a zip bomb.
MAX_NPZ_MEMBER = 2 << 30


def load_npz(data: bytes, origin: str) -> dict:
    """``{key: value}`` from the bytes of a ``.npz`` file. Plain arrays are read as numpy reads
    them; object arrays (``np.savez`` of a dict stores one pickled in ``arr_0``) go through
    :func:`loads`, and a 0-d object array becomes the object it holds."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise UnsafeFileError(f"{origin}: not a .npz file ({e}); expected a zip of .npy arrays") from None
    out = {}
    with archive:
        for info in archive.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.file_size > MAX_NPZ_MEMBER:
                raise UnsafeFileError(f"{origin}: member `{info.filename}` would decompress to {info.file_size} "
                                      f"bytes; expected at most {MAX_NPZ_MEMBER}")
            with archive.open(info) as fh:
                out[key] = read_npy(fh, f"{origin}: `{key}`")
    return out


def read_npy(fh, where: str):
    """One ``.npy`` array from the file object ``fh`` (``where`` names it in errors); an object
    array's pickle goes through :func:`loads`."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = header(fh)
    except Exception as e:
        raise UnsafeFileError(f"{where}: not a .npy array ({e})") from None
    if not dtype.hasobject:
        fh_data = fh.read()
        count = int(np.prod(shape, dtype=np.int64))
        if len(fh_data) != count * dtype.itemsize:
            raise UnsafeFileError(f"{where}: holds {len(fh_data)} bytes; expected {count * dtype.itemsize} "
                                  f"for shape {shape} of {dtype}")
        array = np.frombuffer(fh_data, dtype=dtype)
        return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    value = loads(fh.read(), where)
    if not isinstance(value, np.ndarray):
        raise UnsafeFileError(f"{where}: the pickled payload is a {type(value).__name__}; expected an array")
    return value.item() if value.shape == () else value
