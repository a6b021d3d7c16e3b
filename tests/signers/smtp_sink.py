"""A real SMTP server for tests/alerts.rs: aiosmtpd on 127.0.0.1 at the port given as argv[1],
with AUTH PLAIN/LOGIN taking the user and password given as argv[2] and argv[3] (over plain SMTP:
the server is on loopback). Prints "ready" once it listens, then one JSON line a message:
  {"mail_from": ..., "rcpt_tos": [...], "auth_user": ..., "data": "the message as received"}
Runs until stdin closes (the test drops it).
"""

import json
import sys


def main():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data.login.decode() if ok else None)

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            login = session.auth_data if session.authenticated else None
            print(
                json.dumps(
                    {
                        "mail_from": envelope.mail_from,
                        "rcpt_tos": envelope.rcpt_tos,
                        "auth_user": login.decode() if isinstance(login, bytes) else login,
                        "data": envelope.content.decode("utf-8", "replace"),
                    }
                ),
                flush=True,
            )
            return "250 Message accepted for delivery"

    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
