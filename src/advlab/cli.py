"""``advlab`` command line: check a params file, switch profiles, fetch the dataset."""

from __future__ import annotations

import argparse
import sys

from advlab import params as P
from advlab import profiles
from advlab.errors import AdvlabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="advlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-params", help="validate a params file (default: params.yaml)")
    check.add_argument("file", nargs="?", default=str(P.PARAMS_FILE))
    prof = sub.add_parser("profile", help="write params.yaml from profiles/NAME.yaml (default, tiny, full, full-smoke)")
    prof.add_argument("name")
    sub.add_parser("ensure-data", help="make sure the dataset of params.yaml is on this machine")
    args = parser.parse_args(argv)
    try:
        if args.command == "check-params":
            p = P.load(args.file)
            print(f"{args.file}: valid ({p.data.dataset}; models: {', '.join(p.models)})")
        elif args.command == "ensure-data":
            from advlab.data.ensure import ensure

            p = P.load(P.PARAMS_FILE)
            print(ensure(p.data.dataset, p.data.root))
        else:
            p = profiles.switch(args.name)
            print(f"params.yaml now holds profile '{args.name}' ({p.data.dataset}; models: {', '.join(p.models)}); "
                  "run `uv run dvc repro`")
    except AdvlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
