"""``python -m policies.server BUNDLE``: the robot-side entry point, kept at the name drivers call.

The server itself is ``policies.runtime.server`` (numpy and onnxruntime only).
"""

import sys

from policies.runtime.server import main

if __name__ == "__main__":
    sys.exit(main())
