"""The providers a bridge gets from the settings: each one whose credentials are set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hutch.hub.push.apns import ApnsProvider
from hutch.hub.push.email import EmailProvider
from hutch.hub.push.fcm import FcmProvider, ServiceAccount
from hutch.hub.push.notification import PushProvider
from hutch.hub.push.sms import SmsProvider
from hutch.hub.push.webpush import WebPushProvider

if TYPE_CHECKING:
    from hutch.hub.settings import Settings


def providers_for(settings: Settings) -> list[PushProvider]:
    found: list[PushProvider] = []
    timeout = settings.push_timeout
    if settings.webpush_vapid_key:
        found.append(WebPushProvider(settings.webpush_vapid_key, settings.webpush_subject, timeout=timeout))
    if settings.fcm_project_id and (settings.fcm_service_account_file or settings.fcm_access_token):
        account = (
            ServiceAccount(settings.fcm_service_account_file) if settings.fcm_service_account_file else None
        )
        found.append(
            FcmProvider(
                settings.fcm_endpoint,
                settings.fcm_project_id,
                service_account=account,
                access_token=settings.fcm_access_token,
                timeout=timeout,
            )
        )
    if settings.apns_key_file and settings.apns_team_id and settings.apns_key_id and settings.apns_topic:
        found.append(
            ApnsProvider(
                settings.apns_endpoint,
                team_id=settings.apns_team_id,
                key_id=settings.apns_key_id,
                key_file=settings.apns_key_file,
                topic=settings.apns_topic,
                timeout=timeout,
            )
        )
    if settings.smtp_host and settings.smtp_from:
        found.append(
            EmailProvider(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_from,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                timeout=timeout,
            )
        )
    if settings.sms_account_sid and settings.sms_auth_token and settings.sms_from:
        found.append(
            SmsProvider(
                settings.sms_endpoint,
                settings.sms_account_sid,
                settings.sms_auth_token,
                settings.sms_from,
                timeout=timeout,
            )
        )
    return found
