"""A small SMTP client that checks run on the host under test.

It is sent to the host as the source of ``python3 -c``, so it uses only the
standard library. Arguments: address port sender recipient token [starttls].
"""

SCRIPT = r"""
import smtplib, ssl, sys
from email.message import EmailMessage
address, port, sender, recipient, token = sys.argv[1:6]
starttls = len(sys.argv) > 6 and sys.argv[6] == "starttls"
message = EmailMessage()
message["From"] = sender
message["To"] = recipient
message["Subject"] = "eximctl verify " + token
message["Message-ID"] = "<" + token + "@eximctl.verify>"
message.set_content("Delivery check " + token + "\n")
with smtplib.SMTP(address, int(port), timeout=30) as client:
    client.ehlo("verify.eximctl.test")
    if starttls and client.has_extn("starttls"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context=context)
        client.ehlo("verify.eximctl.test")
    refused = client.send_message(message)
    print("refused:", refused)
"""
