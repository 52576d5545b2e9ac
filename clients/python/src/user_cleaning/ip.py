"""The end user's IP as a Django, Flask or FastAPI request shows it, safe behind proxies."""
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


def _parts(raw) -> list:
    """Every X-Forwarded-For entry, in order (repeated headers joined with ',')."""
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


def _headers_of(request):
    """(X-Forwarded-For, X-Real-IP, the peer address) of a Django, Flask
    (Werkzeug) or Starlette/FastAPI request."""
    meta = getattr(request, "META", None)
    if meta is not None:  # Django
        return meta.get("HTTP_X_FORWARDED_FOR", ""), meta.get("HTTP_X_REAL_IP"), meta.get("REMOTE_ADDR")
    headers = request.headers
    peer = getattr(request, "remote_addr", None)  # Flask
    if peer is None and getattr(request, "client", None) is not None:  # Starlette
        peer = request.client.host
    forwarded = ",".join(headers.getlist("X-Forwarded-For")) if hasattr(headers, "getlist") \
        else ",".join(v for k, v in headers.items() if k.lower() == "x-forwarded-for")
    return forwarded, headers.get("X-Real-IP"), peer


def get_client_ip(request) -> str:
    """The end user's IP of a Django, Flask or FastAPI request, in the
    integration guide's order (X-Forwarded-For, X-Real-IP, the peer address,
    "unknown"), made safe: with USER_CLEANING_TRUSTED_PROXIES = N it takes the
    address N hops from the right of X-Forwarded-For (what the first trusted
    proxy saw), so a client cannot choose its IP by sending the header itself.
    N = 0 means no proxy: the peer address only."""
    global _seen_forwarded_without_setting
    forwarded, real_ip, peer = _headers_of(request)
    hops = setting("USER_CLEANING_TRUSTED_PROXIES", None)
    chain = _parts(forwarded)
    if hops is None:
        if chain and not _seen_forwarded_without_setting:
            _seen_forwarded_without_setting = True
            log.warning("X-Forwarded-For received but USER_CLEANING_TRUSTED_PROXIES is not set: "
                        "the leftmost value is used and a client can forge it")
        candidates = chain[:1] + [real_ip, peer]
    else:
        hops = int(hops)
        if hops <= 0:
            candidates = [peer]
        elif len(chain) >= hops:
            candidates = [chain[-hops]]
        else:  # fewer hops than proxies: the request did not come through them all
            candidates = [peer]
    for c in candidates:
        ip = normalize_ip(c)
        if ip:
            return ip
    return "unknown"


def forwarded_without_setting_seen() -> bool:
    return _seen_forwarded_without_setting
