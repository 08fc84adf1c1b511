"""`python -m glomo_tf ...` is `glomo ...`."""

import sys

from glomo_tf.cli import main

if __name__ == "__main__":
    sys.exit(main())
