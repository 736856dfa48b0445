"""``advlab`` command line: check a params file, switch profiles, fetch the dataset, check the reports."""

from __future__ import annotations

import argparse
import sys

from advlab import params as P
from advlab import browser_check, profiles, provenance
from advlab.errors import AdvlabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="advlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check-params", help="validate a params file (default: params.yaml)")
    check.add_argument("file", nargs="?", default=str(P.PARAMS_FILE))
    listing = "\n".join(f"  {n:<12} {profiles.summary(n)}" for n in profiles.available()) if profiles.PROFILES.is_dir() else ""
    prof = sub.add_parser("profile", help="write params.yaml from profiles/NAME.yaml (see `advlab profile --help`)",
                          description="Write params.yaml from a profile (the default plus the profile's overlays).",
                          epilog=f"profiles:\n{listing}", formatter_class=argparse.RawDescriptionHelpFormatter)
    prof.add_argument("name")
    prof.add_argument("--force", action="store_true",
                      help="replace a params.yaml with local edits (a copy is kept in params.yaml.bak)")
    sub.add_parser("ensure-data", help="make sure the dataset of params.yaml is on this machine")
    rem = sub.add_parser("check-remote", help="check the default DVC remote before `dvc push` / `dvc pull`")
    rem.add_argument("action", choices=["push", "pull"])
    browser_check.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "check-params":
            p = P.load(args.file)
            print(f"{args.file}: valid ({p.data.dataset}; models: {', '.join(p.models)})")
            provenance.check_metrics()
            note = provenance.lock_mismatch(P.read_yaml(args.file))
            if note:
                print(note)
        elif args.command == "check-remote":
            print(f"{args.action}: {provenance.remote(args.action)}")
        elif args.command == "check-reports":
            return browser_check.run(args)
        elif args.command == "ensure-data":
            from advlab.data.ensure import ensure

            p = P.load(P.PARAMS_FILE)
            print(ensure(p.data.dataset, p.data.root))
        else:
            p, changed = profiles.switch(args.name, force=args.force)
            for line in changed[:20]:
                print(f"  {line}")
            if len(changed) > 20:
                print(f"  … and {len(changed) - 20} more changed values")
            print(f"params.yaml now holds profile '{args.name}' ({p.data.dataset}; models: {', '.join(p.models)}; "
                  f"{len(changed)} values changed); run `uv run dvc repro`")
    except AdvlabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
