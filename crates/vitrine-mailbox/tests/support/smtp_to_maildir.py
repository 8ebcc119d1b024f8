"""A test SMTP server that delivers into a Maildir, like a local delivery agent.

Used by vitrine_mailbox::testing::SmtpSink: listens on 127.0.0.1:<port> with aiosmtpd, and
writes every message it accepts into <maildir>/new/ (through tmp/, as Maildir requires),
with Return-Path and Delivered-To in front. Prints `ready` once it accepts connections and
stops when its standard input closes.

    python3 smtp_to_maildir.py --port 2525 --maildir /tmp/.../mail/vitrine
"""

import argparse
import itertools
import os
import socket
import sys
import time

from aiosmtpd.controller import Controller


class MaildirDelivery:
    def __init__(self, maildir):
        self.maildir = maildir
        self.counter = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        prefix = "Return-Path: <{}>\r\n".format(envelope.mail_from or "")
        for recipient in envelope.rcpt_tos:
            prefix += "Delivered-To: {}\r\n".format(recipient)
        data = prefix.encode("ascii") + envelope.original_content
        name = "{}.P{}Q{}.{}".format(
            time.time_ns(), os.getpid(), next(self.counter), socket.gethostname()
        )
        temporary = os.path.join(self.maildir, "tmp", name)
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # Dovecot reads (and renames) it as the mail user.
        os.chmod(temporary, 0o666)
        os.rename(temporary, os.path.join(self.maildir, "new", name))
        return "250 2.0.0 delivered to the Maildir"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args()
    for sub in ("tmp", "new", "cur"):
        path = os.path.join(args.maildir, sub)
        if not os.path.isdir(path):
            os.makedirs(path)
            os.chmod(path, 0o777)
    controller = Controller(
        MaildirDelivery(args.maildir), hostname=args.host, port=args.port
    )
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
