"""The point-log records as the learning loop reads them: every record of the logs (a torn last
line reported, not fatal), which reasons are not points to train on, and the records' parameters
in an emulator's names. Shared by ``zelos report`` (:mod:`zelos.learning.point_report`) and
``zelos retrain`` (:mod:`zelos.learning.retrain`)."""

from __future__ import annotations

import os

import numpy as np

from .. import _zelos

__all__ = ["NOT_TRAINING", "REFUSED", "emulator_names", "load_records", "points_of", "torn_lines_text"]

#: Records that carry no computed outputs for training (the spot checks log error measures).
#: Point-log reasons that are not points to train on: spot checks (emulated points, computed for
#: comparison). Refused points (a NaN or inf input) have no outputs: `zelos retrain` drops them as
#: failed; the report does not count them as fallbacks (REFUSED).
NOT_TRAINING = ("spot_check",)
REFUSED = ("non_finite_input",)


def load_records(logdirs, torn: list | None = None) -> list:
    """Every record of every log (a folder or one `points.*.jsonl` file), each with `log`: its source.

    A last line cut short (a process killed while writing it) is skipped, as the reader always
    does; given a list `torn`, each such line is appended to it as ``{"file", "line",
    "records_read"}`` (the records read from that file) so that the caller can say so."""
    records = []
    for d in [logdirs] if isinstance(logdirs, (str, os.PathLike)) else logdirs:
        raw = _zelos.read_point_log(os.fspath(d))
        for r in raw["points"]:
            r["parameters"] = dict(r["parameters"])  # as routing.read_point_log gives them
            r["log"] = os.path.abspath(os.fspath(d))
            records.append(r)
        if torn is not None and raw["torn"]:
            torn += _torn_lines(raw["files"])
    return records


def _torn_lines(files) -> list:
    """Which of ``files`` end in a line the reader skipped as cut short, at which line number."""
    found = []
    for path in map(os.fspath, files):
        with open(path, "rb") as f:
            text = f.read()
        if not text or text.endswith(b"\n"):
            continue  # the reader skips only an unterminated last line
        one = _zelos.read_point_log(path)  # the reader's own verdict on this file alone
        if one["torn"]:
            found.append({"file": os.path.abspath(path), "line": text.count(b"\n") + 1,
                          "records_read": len(one["points"])})
    return found


def torn_lines_text(torn: list, total: int) -> list:
    """One warning line per torn last line: the file, the line number, the records read."""
    return [f"warning: {t['file']} line {t['line']} is cut short (its writer was killed mid-line?) and was "
            f"skipped; {t['records_read']} records read from that file, {total} from all logs" for t in torn]


def emulator_names(record: dict, names) -> dict:
    """A Cobaya chain logs CAMB's ``As`` (Planck-style chains sample logA and pass As); an
    emulator that takes ``logA`` gets it back, as the plugin does (cobaya/params.py)."""
    params = record.get("parameters") or {}
    if "logA" in names and "logA" not in params and "As" in params:
        record = dict(record, parameters=dict(params, logA=float(np.log(1e10 * params["As"]))))
    return record


def points_of(records: list, names: list) -> tuple:
    """`(points [n, len(names)], records kept)`: the records that give every parameter in `names`
    (a Cobaya chain's ``As`` read as ``logA`` where the emulator takes that)."""
    kept = [r for r in (emulator_names(r, names) for r in records) if all(n in r["parameters"] for n in names)]
    x = np.array([[r["parameters"][n] for n in names] for r in kept], float).reshape(len(kept), len(names))
    return x, kept
