"""The end user's IP as a Django request shows it, safe behind proxies."""
import ipaddress
import logging
from typing import Optional

from ._settings import setting

log = logging.getLogger("user_cleaning")
_seen_forwarded_without_setting = False


def normalize_ip(value: Optional[str]) -> Optional[str]:
    """'203.0.113.7', '[2001:db8::1]:443', ' 198.51.100.1:8080 ' -> the address
    in canonical form (IPv4-mapped IPv6 as IPv4); None when it is not one."""
    if not value:
        return None
    v = value.strip()
    if v.startswith("[") and "]" in v:
        v = v[1:v.index("]")]
    elif v.count(":") == 1:  # IPv4 with a port
        v = v.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(v)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def _forwarded_for(meta) -> list:
    """Every X-Forwarded-For entry, in order (WSGI joins repeated headers with ',')."""
    raw = meta.get("HTTP_X_FORWARDED_FOR", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def get_client_ip(request) -> str:
    """The integration guide's order (X-Forwarded-For, X-Real-IP, REMOTE_ADDR,
    "unknown"), made safe: with USER_CLEANING_TRUSTED_PROXIES = N it takes the
    address N hops from the right of X-Forwarded-For (what the first trusted
    proxy saw), so a client cannot choose its IP by sending the header itself.
    N = 0 means no proxy: REMOTE_ADDR only."""
    global _seen_forwarded_without_setting
    meta = request.META
    hops = setting("USER_CLEANING_TRUSTED_PROXIES", None)
    chain = _forwarded_for(meta)
    if hops is None:
        if chain and not _seen_forwarded_without_setting:
            _seen_forwarded_without_setting = True
            log.warning("X-Forwarded-For received but USER_CLEANING_TRUSTED_PROXIES is not set: "
                        "the leftmost value is used and a client can forge it")
        candidates = chain[:1] + [meta.get("HTTP_X_REAL_IP"), meta.get("REMOTE_ADDR")]
    else:
        hops = int(hops)
        if hops <= 0:
            candidates = [meta.get("REMOTE_ADDR")]
        elif len(chain) >= hops:
            candidates = [chain[-hops]]
        else:  # fewer hops than proxies: the request did not come through them all
            candidates = [meta.get("REMOTE_ADDR")]
    for c in candidates:
        ip = normalize_ip(c)
        if ip:
            return ip
    return "unknown"


def forwarded_without_setting_seen() -> bool:
    return _seen_forwarded_without_setting
