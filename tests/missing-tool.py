"""Stands in for a test whose tool is missing: says which package brings it,
then skips (exit 77), or fails where everything is required
(ESMTP_TEST_REQUIRE_SERVERS=1, as scripts/test.sh and CI set).

Usage: missing-tool.py WHAT PACKAGE"""
import os
import sys

what, package = sys.argv[1], sys.argv[2]
print(f"{what} not found: install {package} (scripts/install-deps.sh does)")
sys.exit(1 if os.environ.get("ESMTP_TEST_REQUIRE_SERVERS") == "1" else 77)
