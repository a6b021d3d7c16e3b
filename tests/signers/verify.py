"""Verifies deliveries the way a backend outside this project would, for tests/forward.rs.

Reads one JSON request on stdin and writes one JSON answer on stdout:
  {"secret": "whsec_...", "deliveries": [{"headers": {name: value}, "body": "..."}]}
      -> {"verified": [true | "the library's error", ...]}: the standardwebhooks package's
         Webhook(secret).verify(body, headers) for each delivery
"""

import json
import sys


def main():
    from standardwebhooks import Webhook

    request = json.load(sys.stdin)
    webhook = Webhook(request["secret"])
    verified = []
    for delivery in request["deliveries"]:
        try:
            webhook.verify(delivery["body"], delivery["headers"])
            verified.append(True)
        except Exception as error:  # the library's own verdict, whatever its type
            verified.append(f"{type(error).__name__}: {error}")
    json.dump({"verified": verified}, sys.stdout)


if __name__ == "__main__":
    main()
