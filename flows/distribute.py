"""Distribution: mail a rendered report (PDF attached) to the configured recipients.

SMTP settings come from the environment through ``Settings`` (HEALTHPLAN_SMTP_HOST, _PORT, _USER,
_PASSWORD, _STARTTLS, HEALTHPLAN_MAIL_FROM, HEALTHPLAN_MAIL_TO). The password is only handed to
``smtplib.login``: it is never logged, printed or put in an exception message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from prefect import task

from healthplan.settings import Settings, get_settings

log = logging.getLogger("healthplan.distribute")


class MailError(RuntimeError):
    """A report that could not be mailed; the message is safe to show (no password)."""


class TransientMailError(MailError):
    """The server could not be reached or refused for now: worth another try."""


def build_message(
    pdf_path: Path, subject: str, body: str, sender: str, recipients: list[str]
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    msg.set_content(body)
    msg.add_attachment(
        Path(pdf_path).read_bytes(),
        maintype="application",
        subtype="pdf",
        filename=Path(pdf_path).name,
    )
    return msg


def mail_report(
    pdf_path: Path | str,
    subject: str,
    body: str,
    settings: Settings | None = None,
    *,
    timeout: float = 30.0,
) -> list[str]:
    """Send the PDF to ``settings.mail_to``; returns the recipients. Raises MailError."""
    s = settings or get_settings()
    if not s.smtp_host:
        raise MailError("未配置邮件服务器（HEALTHPLAN_SMTP_HOST）/ no SMTP host configured")
    recipients = [r for r in s.mail_to if r and r.strip()]
    if not recipients:
        raise MailError("未配置收件人（HEALTHPLAN_MAIL_TO）/ no recipients configured")
    pdf = Path(pdf_path)
    try:
        msg = build_message(pdf, subject, body, s.mail_from, recipients)
    except OSError as e:
        raise MailError(f"无法读取报告 cannot read the report {pdf}: {e.strerror or e}") from None
    try:
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout) as smtp:
            smtp.ehlo()
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as e:
        # e.smtp_error is the server's reply; it never contains what we sent.
        raise MailError(
            f"邮件服务器拒绝登录 SMTP login refused for user {s.smtp_user!r} (code {e.smtp_code})"
        ) from None
    except (smtplib.SMTPException, OSError) as e:
        raise TransientMailError(
            f"邮件发送失败 cannot send via {s.smtp_host}:{s.smtp_port}: {type(e).__name__}"
            f"{': ' + str(e.strerror) if isinstance(e, OSError) and e.strerror else ''}"
        ) from None
    delivered = [r for r in recipients if r not in refused]
    log.info(
        "report mailed: %s to %s via %s:%s (user %s)",
        pdf.name,
        ", ".join(delivered),
        s.smtp_host,
        s.smtp_port,
        s.smtp_user or "-",
    )
    return delivered


def _transient(task, task_run, state) -> bool:
    try:
        state.result()
    except TransientMailError:
        return True
    except Exception:
        return False
    return False


@task(retries=3, retry_delay_seconds=[10, 60, 300], retry_condition_fn=_transient)
def mail_report_task(pdf_path: str, subject: str, body: str) -> list[str]:
    """Prefect task: mail with retries (a mail server that is briefly down is common)."""
    return mail_report(pdf_path, subject, body, get_settings())
