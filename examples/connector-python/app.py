"""A polling connector for Pipedrive, written in Python.

It reads organizations and won deals through Pipedrive's API v1 and turns
them into the contract's account and purchase events. The API token never
enters the component: requests name the credential `api` and the host adds
the token to the ones bound to Pipedrive.
"""

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import plugin, sink, source
from wit_world.imports import host, types

NAME = "pipedrive-py"
VERSION = "0.1.0"
DEFAULT_BASE_URL = "https://api.pipedrive.com"
CREDENTIAL = "api"
# Pipedrive answers at most 500 records per page.
LIMIT_MAX = 500

ORGANIZATIONS = "organizations"
DEALS = "deals"
PHASES = (ORGANIZATIONS, DEALS)

# Pipedrive's times: `YYYY-MM-DD HH:MM:SS`, in UTC.
PIPEDRIVE_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MS = timedelta(milliseconds=1)


class Plugin(exports.Plugin):
    def describe(self) -> plugin.PluginInfo:
        return plugin.PluginInfo(
            name=NAME,
            version=VERSION,
            hosts=[DEFAULT_BASE_URL, "https://*.pipedrive.com"],
            # The origin of whatever the setting names.
            host_settings=["base_url"],
            credentials=[CREDENTIAL],
            secrets=[],
            settings=[
                plugin.Setting(
                    name="base_url",
                    required=False,
                    description="Where Pipedrive's API is, without `/v1` "
                    f"(default {DEFAULT_BASE_URL}; a company domain such as "
                    "https://acme.pipedrive.com/api also works)",
                ),
            ],
        )


class Source(exports.Source):
    def verify_webhook(self, request: types.WebhookRequest) -> types.Delivery:
        raise Err(types.Error_Unsupported(f"{NAME} reads Pipedrive by polling only"))

    def handle_webhook(self, request: types.WebhookRequest) -> list[types.Event]:
        raise Err(types.Error_Unsupported(f"{NAME} reads Pipedrive by polling only"))

    def poll(self, request: source.PollRequest) -> source.PollPage:
        cursor = Cursor.parse(request.cursor, request.since)
        limit = max(1, min(request.page_size, LIMIT_MAX))
        started = host.now()
        body = get_page(base_url(), cursor.phase, cursor.start, limit)
        records = body.get("data") or []
        if not isinstance(records, list):
            raise Err(types.Error_Permanent(f"Pipedrive's {cursor.phase}: `data` is not a list"))
        map_record = organization_event if cursor.phase == ORGANIZATIONS else deal_event
        events = []
        for index, record in enumerate(records):
            event = map_record(record, f"{cursor.phase}.data[{index}]")
            if cursor.since is None or event.value.version >= cursor.since:
                events.append(event)
        host.log(
            host.LogLevel.DEBUG,
            f"{cursor.phase} from {cursor.start}: {len(records)} records, "
            f"{len(events)} events, {host.now() - started} ms",
        )
        next_start = more_items(body, cursor)
        if next_start is not None:
            following = Cursor(cursor.phase, next_start, cursor.since)
        elif cursor.phase == ORGANIZATIONS:
            following = Cursor(DEALS, 0, cursor.since)
        else:
            # Both phases are done: the next sync reads everything again, and
            # the host ignores what it already holds at the same version.
            return source.PollPage(
                events=events, next_cursor=Cursor(ORGANIZATIONS, 0, None).dump(), more=False
            )
        return source.PollPage(events=events, next_cursor=following.dump(), more=True)


class Sink(exports.Sink):
    def push_campaign(self, delivery: sink.CampaignDelivery) -> sink.CampaignReport:
        raise Err(types.Error_Unsupported(f"{NAME} does not push campaigns"))

    def fulfil_reward(self, request: sink.RewardRequest) -> sink.Fulfilment:
        raise Err(types.Error_Unsupported(f"{NAME} does not fulfil rewards"))

    def deliver_statement(self, statement: sink.Statement) -> str:
        raise Err(types.Error_Unsupported(f"{NAME} does not deliver statements"))


class Cursor:
    """Where a sync stands: the phase, the offset in it and, in a backfill,
    the oldest change wanted (ms)."""

    def __init__(self, phase: str, start: int, since: int | None):
        self.phase = phase
        self.start = start
        self.since = since

    @staticmethod
    def parse(text: str | None, since: int | None) -> "Cursor":
        if since is not None or text is None:
            return Cursor(ORGANIZATIONS, 0, since)
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if (
            not isinstance(value, dict)
            or value.get("phase") not in PHASES
            or not is_count(value.get("start"))
            or not (value.get("since") is None or is_count(value.get("since")))
        ):
            raise Err(
                types.Error_InvalidInput(
                    f'cursor `{text}` is not {{"phase": "organizations" or "deals", "start": N}}'
                )
            )
        return Cursor(value["phase"], value["start"], value.get("since"))

    def dump(self) -> str:
        value = {"phase": self.phase, "start": self.start}
        if self.since is not None:
            value["since"] = self.since
        return json.dumps(value, separators=(",", ":"))


def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def base_url() -> str:
    return (host.config_get("base_url") or DEFAULT_BASE_URL).rstrip("/")


def get_page(base: str, phase: str, start: int, limit: int) -> dict:
    query = {"start": start, "limit": limit}
    if phase == DEALS:
        query["status"] = "won"
    url = f"{base}/v1/{phase}?{urlencode(query)}"
    try:
        response = host.http_request(
            host.OutgoingRequest(
                method="GET",
                url=url,
                headers=[types.Header(name="accept", value="application/json")],
                body=None,
                credential=CREDENTIAL,
                idempotency_key=None,
            )
        )
    except Err as failure:
        raise Err(http_failure(url, failure.value)) from None
    if response.status != 200:
        raise Err(status_error(url, response))
    try:
        # Decimals keep the amounts exactly as written on the wire.
        body = json.loads(response.body, parse_float=Decimal)
    except ValueError as error:
        raise Err(types.Error_Permanent(f"GET {url}: the answer is not JSON: {error}")) from None
    if not isinstance(body, dict) or body.get("success") is not True:
        raise Err(
            types.Error_Permanent(
                f"GET {url}: Pipedrive did not answer success: {excerpt(response.body)}"
            )
        )
    return body


def http_failure(url: str, failure: host.HttpError) -> types.Error:
    message = f"GET {url}: {failure.value}"
    if isinstance(failure, (host.HttpError_Timeout, host.HttpError_ConnectionFailed)):
        return types.Error_Transient(message)
    return types.Error_Permanent(message)


def status_error(url: str, response: host.IncomingResponse) -> types.Error:
    message = f"GET {url}: Pipedrive answered {response.status}: {excerpt(response.body)}"
    if response.status in (401, 403):
        return types.Error_Unauthorized(message)
    if response.status == 429:
        delay_ms = retry_after_ms(response)
        return types.Error_RateLimited(types.RetryAfter(delay_ms=delay_ms, message=message))
    if response.status >= 500:
        return types.Error_Transient(message)
    return types.Error_Permanent(message)


def retry_after_ms(response: host.IncomingResponse) -> int | None:
    for header in response.headers:
        if header.name.lower() == "retry-after" and header.value.strip().isdigit():
            return int(header.value.strip()) * 1000
    return None


def excerpt(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace")


def more_items(body: dict, cursor: Cursor) -> int | None:
    """The next page's start when Pipedrive says there is more, else None."""
    pagination = (body.get("additional_data") or {}).get("pagination") or {}
    if pagination.get("more_items_in_collection") is not True:
        return None
    next_start = pagination.get("next_start")
    if not is_count(next_start) or next_start <= cursor.start:
        raise Err(
            types.Error_Permanent(
                f"Pipedrive's {cursor.phase} from {cursor.start}: "
                f"more items without a later `next_start` ({next_start!r})"
            )
        )
    return next_start


def organization_event(record, path: str) -> types.Event:
    record = require_object(record, path)
    return types.Event_Account(
        types.Account(
            id=entity_id(record.get("id"), f"{path}.id"),
            version=timestamp_ms(
                record.get("update_time") or record.get("add_time"), f"{path}.update_time"
            ),
            name=require_text(record.get("name"), f"{path}.name"),
            domain=None,
            tax_id=None,
            industry=None,
            employees=None,
            annual_revenue=None,
            parent_id=None,
            country=None,
            external_refs=[],
            attributes=[],
        )
    )


def deal_event(record, path: str) -> types.Event:
    record = require_object(record, path)
    amount = types.Money(
        amount=decimal_text(record.get("value"), f"{path}.value"),
        currency=currency_code(record.get("currency"), f"{path}.currency"),
    )
    organization = record.get("org_id")
    if isinstance(organization, dict):
        organization = organization.get("value")
    title = record.get("title")
    attributes = [types.Attribute(name="title", value=title)] if isinstance(title, str) else []
    return types.Event_Purchase(
        types.Purchase(
            id=entity_id(record.get("id"), f"{path}.id"),
            version=timestamp_ms(record.get("update_time"), f"{path}.update_time"),
            account_id=None if organization is None else entity_id(organization, f"{path}.org_id"),
            contact_id=None,
            status=types.PurchaseStatus.PAID,
            placed_at=timestamp_ms(record.get("won_time"), f"{path}.won_time"),
            net_amount=amount,
            total_amount=amount,
            lines=[],
            discount_codes=[],
            referral_code=None,
            attributes=attributes,
        )
    )


def invalid(path: str, problem: str) -> Err:
    return Err(types.Error_InvalidInput(f"Pipedrive field `{path}`: {problem}"))


def require_object(value, path: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(path, "not an object")
    return value


def require_text(value, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(path, "missing or empty")
    return value


def entity_id(value, path: str) -> str:
    if not is_count(value) or value == 0:
        raise invalid(path, f"{value!r} is not an id")
    return str(value)


def decimal_text(value, path: str) -> str:
    """The amount as a plain decimal string, exactly as Pipedrive wrote it."""
    if isinstance(value, bool) or value is None:
        raise invalid(path, f"{value!r} is not an amount")
    try:
        amount = Decimal(value) if isinstance(value, (int, str)) else value
    except InvalidOperation:
        raise invalid(path, f"{value!r} is not an amount") from None
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise invalid(path, f"{value!r} is not an amount")
    return format(amount, "f")


def currency_code(value, path: str) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise invalid(path, f"{value!r} is not an ISO 4217 code")
    return value.upper()


def timestamp_ms(value, path: str) -> int:
    """Pipedrive's `YYYY-MM-DD HH:MM:SS` (UTC) in milliseconds."""
    match = PIPEDRIVE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(path, f"{value!r} is not `YYYY-MM-DD HH:MM:SS`")
    try:
        moment = datetime(*(int(part) for part in match.groups()), tzinfo=timezone.utc)
    except ValueError as error:
        raise invalid(path, f"`{value}`: {error}") from None
    return (moment - EPOCH) // ONE_MS
