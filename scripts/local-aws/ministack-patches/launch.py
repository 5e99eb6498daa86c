# Starts MiniStack with this project's patches for its known gaps (see fleet_csr.py), then runs it
# exactly as its own `ministack` entry point does. A patch that cannot be applied (another MiniStack
# version) is reported and skipped: the emulator still starts, and the tests that need it fail
# clearly instead of every run failing.
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import fleet_csr

    fleet_csr.install()
except Exception as error:  # noqa: BLE001 - any failure must leave the emulator usable
    print(f"edgeops: MiniStack patch fleet_csr not applied: {error!r}", file=sys.stderr)

from ministack.app import main

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(main())
