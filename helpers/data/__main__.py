"""Prepare and check the course's data sets from a terminal (for instructors setting up an offline lab room).

    python -m helpers.data status                             # where each data set is, its size and checksum
    python -m helpers.data status --verify-images             # also check every unpacked file and image now
    python -m helpers.data fetch --all --from /path/to/mirror  # copy/unpack everything into the data root
    python -m helpers.data fetch fashion-mnist                 # one data set (mirror, else the official download)

Exit status: 0 when all went well, 1 when a data set failed (or ``--verify-images`` found damage), 2 for a
usage error (unknown name, a data root that is not a folder).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from helpers.data.errors import CorruptFileError, DataLayoutError, DataNotFoundError
from helpers.data.storage import DATASETS, fetch_dataset, get_dataset, print_status, search_roots


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.data status [--verify-images]`` / ``python -m helpers.data fetch NAME|--all [--from MIRROR]``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="data root (default: $COURSE_DATA, else the repo's data/ folder)")
    common.add_argument("--from", dest="mirror", help="mirror folder (default: $COURSE_DATA_MIRROR)")
    parser = argparse.ArgumentParser(prog="python -m helpers.data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", parents=[common], help="where each data set is, its size, checksum")
    status.add_argument("--verify-images", "--verify", dest="verify", action="store_true",
                        help="check every unpacked copy now: file count and size, MD5s, every image decodes")
    get = commands.add_parser("fetch", parents=[common], help="copy/unpack from a mirror (or download) into the root")
    get.add_argument("names", nargs="*", metavar="NAME", help=f"one or more of: {', '.join(DATASETS)}")
    get.add_argument("--all", action="store_true", help="fetch every data set")
    get.add_argument("--no-download", action="store_true", help="never try the official download")
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            rows = print_status(args.root, mirror=args.mirror, verify=args.verify)
            return 1 if args.verify and any(row["problems"] for row in rows) else 0
        names = list(DATASETS) if args.all else args.names
        if not names:
            parser.error("fetch needs a data set NAME or --all")
        search_roots(args.root, mirror=args.mirror)  # folders that are missing or not folders fail first
        for name in names:
            get_dataset(name)  # and so do unknown names
        failed = 0
        for name in names:
            try:
                path = fetch_dataset(name, args.root, mirror=args.mirror, download=not args.no_download)
                print(f"{name}: ready at {path}")
            except (DataNotFoundError, CorruptFileError, DataLayoutError, PermissionError) as err:
                failed += 1
                print(f"{name}: FAILED\n{err}", file=sys.stderr)
        return 1 if failed else 0
    except (ValueError, FileNotFoundError, PermissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
