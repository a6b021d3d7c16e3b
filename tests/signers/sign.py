"""Signs deliveries the way senders outside this project do, for tests/signatures.rs.

Reads one JSON request on stdin and writes one JSON answer on stdout:
  {"scheme": "standardwebhooks", "secret": "whsec_...", "messages": [{"id", "timestamp", "body"}]}
      -> {"signatures": ["v1,..."]}: the standardwebhooks package's Webhook(secret).sign
  {"scheme": "svix", "secret": "whsec_...", "messages": [...]}
      -> {"signatures": ["v1,..."]}: the svix package's svix.webhooks.Webhook(secret).sign
  {"scheme": "ed25519", "messages": [...]}
      -> {"publicKey": "whpk_...", "signatures": ["v1a,..."]}: a fresh key pair from the
         cryptography package, signing <id>.<timestamp>.<body> as the specification says
"""

import base64
import json
import sys
from datetime import datetime, timezone


def standard_webhooks(secret, messages):
    from standardwebhooks import Webhook

    webhook = Webhook(secret)
    return {
        "signatures": [
            webhook.sign(m["id"], datetime.fromtimestamp(m["timestamp"], tz=timezone.utc), m["body"])
            for m in messages
        ]
    }


def svix(secret, messages):
    from svix.webhooks import Webhook

    webhook = Webhook(secret)
    return {
        "signatures": [
            webhook.sign(m["id"], datetime.fromtimestamp(m["timestamp"], tz=timezone.utc), m["body"])
            for m in messages
        ]
    }


def ed25519(messages):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(m):
        content = f"{m['id']}.{m['timestamp']}.{m['body']}".encode()
        return "v1a," + base64.b64encode(key.sign(content)).decode()

    return {
        "publicKey": "whpk_" + base64.b64encode(public).decode(),
        "signatures": [sign(m) for m in messages],
    }


def main():
    request = json.load(sys.stdin)
    if request["scheme"] == "standardwebhooks":
        answer = standard_webhooks(request["secret"], request["messages"])
    elif request["scheme"] == "svix":
        answer = svix(request["secret"], request["messages"])
    elif request["scheme"] == "ed25519":
        answer = ed25519(request["messages"])
    else:
        sys.exit(f"unknown scheme {request['scheme']!r}")
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
