from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def bytes_human(value) -> str:
    """1536 -> '1.5 KB' (binary units)."""
    size = float(value or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


@register.filter
def cents(value) -> str:
    """Stripe amounts are in the currency's smallest unit: 1234 -> '12.34'."""
    return f"{int(value or 0) / 100:,.2f}"


@register.filter
def unix_date(value) -> str:
    return datetime.fromtimestamp(int(value), tz=UTC).strftime("%Y-%m-%d") if value else ""


@register.filter
def unix_moment(value) -> datetime | None:
    """A Stripe timestamp (seconds since the epoch) as an aware datetime, for `|when`."""
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


@register.filter
def thousands(value) -> str:
    """1234567 -> '1,234,567'."""
    return f"{int(value or 0):,}"
