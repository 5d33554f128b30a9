"""``python -m froc ...`` runs the ``froc`` command line (what ``torchrun --nproc_per_node N -m froc unlearn ...`` needs)."""

from froc.cli import main

if __name__ == "__main__":
    main()
