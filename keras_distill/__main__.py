"""`python -m keras_distill ...` runs the `keras-distill` command."""

import sys

from keras_distill.cli import main

if __name__ == "__main__":
    sys.exit(main())
