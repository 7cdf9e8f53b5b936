"""A real SMTP server for the tests: aiosmtpd on loopback, requiring AUTH (PLAIN or
LOGIN, over plain text since it is loopback) with the given user and password, and
delivering every message into a Maildir.

    smtp_sink.py HOST PORT MAILDIR USER PASSWORD
"""
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, maildir, user, password = sys.argv[1:6]


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok)


controller = Controller(
    Mailbox(maildir),
    hostname=host,
    port=int(port),
    authenticator=authenticator,
    auth_require_tls=False,
    auth_required=True,
)
controller.start()
threading.Event().wait()
