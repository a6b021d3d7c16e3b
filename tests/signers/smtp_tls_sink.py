"""A real SMTP server for tests/alerts_tls.rs: aiosmtpd with AUTH PLAIN/LOGIN, configured by one
JSON argument:
  {"host": "127.0.0.1", "port": 2525, "user": ..., "password": ...,
   "cert": "server.pem", "key": "server.key", "implicit_tls": false}
With "cert" it offers STARTTLS and requires it (require_starttls, auth_require_tls), or with
"implicit_tls" speaks TLS from the first byte (smtps); without "cert", it offers no STARTTLS and
would take AUTH in clear (so that refusing to is the client's doing).
Prints "ready" once it listens, then one JSON object a line, an event each:
  {"event": "clear", "line": ...}    every line received before TLS, as received
  {"event": "tls", "version": ...}   a STARTTLS handshake completed, or a TLS connection's
                                     first command arrived (smtps)
  {"event": "auth", "user": ..., "password_matches": ..., "tls": ...}   an AUTH was attempted
  {"event": "mail", "mail_from": ..., "rcpt_tos": [...], "auth_user": ..., "tls": ...,
   "data": "the message as received"}
  {"event": "closed", "lines": N}    a connection that sent N lines ended (after its other events)
Runs until stdin closes (the test drops it).
"""

import json
import logging
import ssl
import sys
import threading
import warnings

_lock = threading.Lock()


def emit(event):
    with _lock:
        print(json.dumps(event), flush=True)


def main():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    # The refused handshakes and the deliberately plain server are the tests' point: aiosmtpd's
    # tracebacks and warnings about them would only bury the test output.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    config = json.loads(sys.argv[1])
    tls_context = None
    if config.get("cert"):
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(config["cert"], config["key"])
    implicit = bool(config.get("implicit_tls"))

    def encrypted(server):
        """STARTTLS done, or a connection that was TLS from the start."""
        transport = server.transport
        return server._tls_protocol is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = isinstance(auth_data, LoginPassword)
        user = auth_data.login.decode() if login else None
        matches = login and auth_data.password.decode() == config["password"]
        emit({
            "event": "auth",
            "mechanism": mechanism,
            "user": user,
            "password_matches": matches,
            "tls": encrypted(server),
        })
        ok = matches and user == config["user"]
        return AuthResult(success=ok, auth_data=user if ok else None)

    class Sink:
        def handle_STARTTLS(self, server, session, envelope):
            ssl_object = (session.ssl or {}).get("ssl_object")
            emit({"event": "tls", "version": ssl_object.version() if ssl_object else None})
            return True

        async def handle_DATA(self, server, session, envelope):
            emit({
                "event": "mail",
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "auth_user": session.auth_data if session.authenticated else None,
                "tls": encrypted(server),
                "data": envelope.content.decode("utf-8", "replace"),
            })
            return "250 Message accepted for delivery"

    class RecordingSMTP(SMTP):
        """Reports every line that arrives before TLS, to show what went in clear."""

        _kyc_tls_seen = False
        _kyc_lines = 0

        def connection_made(self, transport):
            super().connection_made(transport)
            reader = self._reader
            if getattr(reader, "_kyc_recorded", False):
                return
            reader._kyc_recorded = True
            original = reader.readuntil

            async def readuntil(*args, **kwargs):
                line = await original(*args, **kwargs)
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                self._kyc_lines += 1
                if not encrypted(self):
                    emit({"event": "clear", "line": text})
                elif self._tls_protocol is None and not self._kyc_tls_seen:
                    self._kyc_tls_seen = True
                    ssl_object = self.transport.get_extra_info("ssl_object")
                    emit({"event": "tls", "version": ssl_object.version()})
                return line

            reader.readuntil = readuntil

        def connection_lost(self, error):
            super().connection_lost(error)
            # The controller's own start-up probe sends nothing: not reported.
            if self._kyc_lines:
                emit({"event": "closed", "lines": self._kyc_lines})

    class RecordingController(Controller):
        def factory(self):
            return RecordingSMTP(self.handler, **self.SMTP_kwargs)

    controller = RecordingController(
        Sink(),
        hostname=config["host"],
        port=config["port"],
        authenticator=authenticator,
        auth_required=True,
        # With smtps the connection is TLS before aiosmtpd's STARTTLS logic knows of it.
        auth_require_tls=tls_context is not None and not implicit,
        tls_context=None if implicit else tls_context,
        require_starttls=tls_context is not None and not implicit,
        ssl_context=tls_context if implicit else None,
    )
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
