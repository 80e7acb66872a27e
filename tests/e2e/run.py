#!/usr/bin/env python3
"""Runs the end-to-end tests (tests/e2e/test_*.py) against the built binaries.

Usage: python3 tests/e2e/run.py [--build DIR] [-k PATTERN] [-v]
The build folder is passed to the tests through the GW_BUILD environment
variable. Prints 'e2e: N passed, N failed' and exits non-zero on any failure.
"""
import argparse
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-k", dest="pattern", default=None)
    ap.add_argument("-v", dest="verbose", action="store_true")
    args = ap.parse_args()
    os.environ["GW_BUILD"] = os.path.join(root, args.build) if not os.path.isabs(args.build) else args.build
    sys.path.insert(0, here)
    loader = unittest.TestLoader()
    if args.pattern:
        loader.testNamePatterns = ["*%s*" % args.pattern]
    suite = loader.discover(here, pattern="test_*.py", top_level_dir=here)
    runner = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, stream=sys.stdout)
    res = runner.run(suite)
    failed = len(res.failures) + len(res.errors) + len(getattr(res, "unexpectedSuccesses", []))
    skipped = len(res.skipped)
    passed = res.testsRun - failed - skipped
    print("e2e: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if res.testsRun == 0:
        print("e2e: no test ran", file=sys.stderr)
        return 1
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
