"""A real SMTP server for the tests: aiosmtpd on loopback, requiring AUTH (PLAIN or
LOGIN, over plain text since it is loopback) with the given user and password, and
delivering every message into a Maildir.

    smtp_sink.py HOST MAILDIR USER PASSWORD

It binds a port of its own (port 0: no other test can take it between choosing and
binding) and prints it on the first line of its output once it accepts connections.
"""
import asyncio
import sys

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

host, maildir, user, password = sys.argv[1:5]


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok)


async def main():
    handler = Mailbox(maildir)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(
            handler,
            hostname=host,
            authenticator=authenticator,
            auth_require_tls=False,
            auth_required=True,
        ),
        host=host,
        port=0,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
