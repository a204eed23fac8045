"""Archives that attack the extraction routine, built without paying for what they claim to hold:
`zeros_archive` (a gigabyte of zeros in about a megabyte, as the audit's bomb)."""

from __future__ import annotations

import gzip
import tarfile

MIB = 1024 * 1024


def zeros_archive(size: int, name: str = "zeros.bin") -> bytes:
    """A tar.gz of one member of `size` zero bytes (whole MiBs), about a thousandth of `size`.

    gzip allows members one after the other: one MiB of zeros is compressed once and repeated,
    so building a gigabyte's archive holds one MiB and takes milliseconds; every reader of gzip
    (tarfile, `tar xzf`) sees one stream."""
    assert size % MIB == 0, "whole MiBs only"
    header = tarfile.TarInfo(name)
    header.size = size
    one_mib = gzip.compress(bytes(MIB), compresslevel=9, mtime=0)
    parts = [gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT), mtime=0)]
    parts.extend([one_mib] * (size // MIB))
    parts.append(gzip.compress(bytes(2 * tarfile.BLOCKSIZE), mtime=0))  # end of the archive
    return b"".join(parts)
