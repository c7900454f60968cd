import sys

from bench.runner import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # Every child was already stopped and the partial report written by main()'s cleanup.
        print("[bench] interrupted", file=sys.stderr)
        sys.exit(130)
