"""One acquisition in its own process, for the demo's crash: ``python -m cora_bluesky.sim.session``.

Runs the profile's startup files, then a long tomography scan; the demo kills this process
while the scan runs, as a power cut would.
"""

from __future__ import annotations

import argparse

from cora_bluesky.sim.profile import run_startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--startup-dir", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--num-angles", type=int, default=3600)
    args = parser.parse_args()
    namespace = run_startup(args.startup_dir)
    namespace["RE"](namespace["tomo_scan"](num_angles=args.num_angles), subject_id=args.subject)


if __name__ == "__main__":
    main()
