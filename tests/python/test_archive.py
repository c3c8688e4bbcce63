"""Archives seen from Python: verification failures raise zelos.ArchiveError naming the problem."""

import gzip
import io
import tarfile

import numpy as np
import pytest

import zelos
from zelos import _zelos
from zelos.testing import random_archive


def _rewrite(src, dst, edit):
    """Copies a .tar.gz, letting `edit(name, data) -> [(name, data, type)]` change members."""
    with tarfile.open(src, "r:gz") as tin:
        members = [(m.name, tin.extractfile(m).read()) for m in tin.getmembers() if m.isfile()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tout:
        for name, data in members:
            for new_name, new_data, kind in edit(name, data):
                info = tarfile.TarInfo(new_name)
                if kind == "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = "/etc/passwd"
                    tout.addfile(info)
                else:
                    info.size = len(new_data)
                    tout.addfile(info, io.BytesIO(new_data))
    dst.write_bytes(gzip.compress(buf.getvalue()))


def test_a_changed_byte_is_refused(archives, tmp_path):
    bad = tmp_path / "bad.tar.gz"

    def flip(name, data):
        if name == "weights.safetensors":
            data = data[:-1] + bytes([data[-1] ^ 1])
        return [(name, data, "file")]

    _rewrite(archives["tanh32"], bad, flip)
    with pytest.raises(zelos.ArchiveError, match="weights.safetensors"):
        zelos.load(bad)


def test_a_parent_path_member_is_refused(archives, tmp_path):
    bad = tmp_path / "escape.tar.gz"
    _rewrite(archives["tanh32"], bad, lambda n, d: [(n, d, "file")] + ([("../evil", b"x", "file")] if n == "report.md" else []))
    with pytest.raises(zelos.ArchiveError, match=r"\.\./evil"):
        zelos.load(bad)


def test_a_symlink_member_is_refused(archives, tmp_path):
    bad = tmp_path / "link.tar.gz"
    _rewrite(archives["tanh32"], bad, lambda n, d: [(n, d, "file")] + ([("link", b"", "symlink")] if n == "report.md" else []))
    with pytest.raises(zelos.ArchiveError, match="link"):
        zelos.load(bad)


def test_a_missing_manifest_is_refused(archives, tmp_path):
    bad = tmp_path / "nomanifest.tar.gz"
    _rewrite(archives["tanh32"], bad, lambda n, d: [] if n == "manifest.json" else [(n, d, "file")])
    with pytest.raises(zelos.ArchiveError, match="manifest"):
        zelos.load(bad)


def test_extraction_stays_inside_its_folder(archives, tmp_path):
    out = tmp_path / "x"
    _zelos.extract_archive(str(archives["tanh32"]), str(out))
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "manifest.json" in names and "weights.safetensors" in names
    assert not (tmp_path / "manifest.json").exists()


def test_report_numbers_read_back_bit_identical(tmp_path):
    """Every float written into an archive's report reads back as the same double: the report
    passes through Rust's JSON parser, whose default float parsing is not correctly rounded."""
    rng = np.random.default_rng(2007)
    values = np.concatenate([
        rng.uniform(0, 1, 2000),                       # accuracy figures, quantiles
        10.0 ** rng.uniform(-300, 300, 2000),          # any magnitude
        -rng.standard_normal(1000) * 10.0 ** rng.integers(-20, 20, 1000),
        [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3, 0.0012005131503274313],
    ])
    written = [float(v) for v in values]
    random_archive(tmp_path / "r.tar.gz", hidden=1, width=8, n_out=10, report={"numbers": written})
    read = zelos.load(tmp_path / "r.tar.gz").report["numbers"]
    changed = [(w, r) for w, r in zip(written, read) if w != r or np.signbit(w) != np.signbit(r)]
    assert len(read) == len(written) and not changed, f"{len(changed)} of {len(written)} changed, e.g. {changed[:3]}"
