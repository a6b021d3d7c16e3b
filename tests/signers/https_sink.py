"""An HTTPS server for tests/tls_roots.rs: Python's http.server behind the standard ssl module,
presenting a certificate from the test authority of test_ca.py.
  python https_sink.py CERT KEY
listens on 127.0.0.1 (a free port), prints "ready PORT", then one JSON line per event:
  {"event": "request", "method", "path", "headers", "body"}  (answered 200 "{}")
  {"event": "refused", "error"}  (a TLS handshake that did not complete, e.g. the client
                                   refused the certificate)
and stops when its standard input closes.
"""

import http.server
import json
import ssl
import sys
import threading

lock = threading.Lock()


def report(event):
    with lock:
        print(json.dumps(event), flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        report({
            "event": "request",
            "method": "POST",
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        })
        answer = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context):
        super().__init__(("127.0.0.1", 0), Handler)
        self.context = context

    def finish_request(self, request, client_address):
        # The handshake in the connection's own thread, so that a refusal is seen and said.
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            report({"event": "refused", "error": str(error)})
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Server(context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready {server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
