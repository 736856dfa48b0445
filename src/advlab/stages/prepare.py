"""Stage ``prepare``: load the dataset and draw the split plan."""

from __future__ import annotations

import sys

from advlab.data.prepared import PREPARED, save_dataset
from advlab.data.sources import load_dataset
from advlab.data.split import make_plan
from advlab.io import write_text
from advlab.stages.common import load_params, stage


def summary_markdown(summary: dict) -> str:
    roles = summary["roles"]
    classes = list(next(iter(roles.values()))["per_class"])
    lines = [f"# Split plan `{summary['hash']}` (seed {summary['seed']})", "",
             "| role | count | " + " | ".join(classes) + " |", "|---" * (len(classes) + 2) + "|"]
    for role, r in roles.items():
        lines.append(f"| {role} | {r['count']} | " + " | ".join(str(v) for v in r["per_class"].values()) + " |")
    lines += ["", f"Shadow models: {summary['shadow_models']}; members per shadow model: "
              f"{summary['shadow_members_per_model']}", ""]
    return "\n".join(lines)


@stage
def main() -> None:
    p = load_params()
    ds = load_dataset(p.data.dataset, p.data.root)
    plan = make_plan(ds.labels, ds.is_test, p.split)
    save_dataset(ds, PREPARED)
    plan.save(PREPARED / "split.npz", PREPARED / "split.json", ds.labels, ds.classes)
    write_text(PREPARED / "split.md", summary_markdown(plan.summary(ds.labels, ds.classes)))
    print(f"prepared {ds.name}: {len(ds.labels)} images {ds.input_shape}, plan {plan.hash}")


if __name__ == "__main__":
    sys.exit(main())
