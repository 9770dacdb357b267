#!/usr/bin/env python3
"""Which tables and indexes a SQLite WAL's commits wrote, page by page.

Usage: bench/wal_pages.py DATABASE WAL [TOP]

Copy the database file and its `-wal` while `bench/orders.sh` runs (the WAL is restarted
when it grows long, so copy it during the load), then run this on the copies. Each WAL frame
is one whole page written by a COMMIT; the page numbers are mapped to their b-tree with
SQLite's `dbstat` table on the database copy (pages the copy does not have yet are counted
as `(new page)`). Prints the commits found, the frames per commit, and the share of frames
of each b-tree: an index keyed by something scattered (a product) costs a page per row.
"""

import collections
import sqlite3
import struct
import sys

WAL_HEADER = struct.Struct(">IIIIIIII")
FRAME_HEADER = struct.Struct(">IIII")


def commits(wal: bytes) -> list[list[int]]:
    """The page numbers of each committed transaction in the WAL's current generation."""
    _magic, _version, page_size, _seq, salt1, salt2, _c1, _c2 = WAL_HEADER.unpack_from(wal)
    frame_size = 24 + page_size
    found, current = [], []
    offset = WAL_HEADER.size
    while offset + frame_size <= len(wal):
        page, db_size, s1, s2 = FRAME_HEADER.unpack_from(wal, offset)
        if (s1, s2) != (salt1, salt2):
            break  # a frame of an earlier generation: the current one ends here
        current.append(page)
        if db_size:  # a commit frame
            found.append(current)
            current = []
        offset += frame_size
    return found


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    database, wal_path = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        owner = dict((page, name) for name, page in con.execute("SELECT name, pageno FROM dbstat"))
    except sqlite3.OperationalError as e:
        sys.exit(f"this Python's SQLite has no dbstat table: {e}")
    with open(wal_path, "rb") as f:
        found = commits(f.read())
    if not found:
        sys.exit("no committed frames in this WAL")
    frames = sum(len(c) for c in found)
    print(f"commits {len(found)}, frames {frames}, frames per commit {frames / len(found):.1f}")
    by_tree = collections.Counter(owner.get(page, "(new page)") for c in found for page in c)
    for name, n in by_tree.most_common(top):
        print(f"{n / len(found):8.2f} per commit {100 * n / frames:5.1f} %  {name}")


if __name__ == "__main__":
    main()
