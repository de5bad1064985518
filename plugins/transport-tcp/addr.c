/* transport-tcp: address text in both directions, and libuv errors. */
#include "tcp_int.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

/* Reads a decimal port of 1 to 5 digits. Returns it, or -1. */
static int parse_port(const char *s)
{
    int v = 0;
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        if (n >= 5) {
            return -1;
        }
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || s[n] != '\0' || v > 65535) {
        return -1;
    }
    return v;
}

int tcp_addr_parse(const char *s, int port_min, struct sockaddr_storage *out)
{
    char host[64];
    const char *colon;
    const char *hs;
    size_t hlen;
    int v6 = 0;
    int port;

    if (s == NULL || out == NULL) {
        return OA_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return OA_EINVAL;
        }
        hs = s + 1;
        hlen = (size_t)(close - hs);
        colon = close + 1;
        v6 = 1;
    } else {
        colon = strrchr(s, ':');
        /* A second colon means an IPv6 address without brackets. */
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL) {
            return OA_EINVAL;
        }
        hs = s;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        return OA_EINVAL;
    }
    memcpy(host, hs, hlen);
    host[hlen] = '\0';
    port = parse_port(colon + 1);
    if (port < 0 || port < port_min) {
        return OA_EINVAL;
    }
    if (v6) {
        return uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0 ? 0 : OA_EINVAL;
    }
    return uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0 ? 0 : OA_EINVAL;
}

int tcp_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    int n;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        if (uv_ip4_name(a, ip, sizeof(ip)) != 0) {
            return OA_EINVAL;
        }
        n = snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        char scope[IF_NAMESIZE + 1] = "";
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            /* A dual-stack socket's IPv4 peer: show it as IPv4. */
            if (uv_inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof(ip)) != 0) {
                return OA_EINVAL;
            }
            n = snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a->sin6_port));
        } else {
            if (uv_ip6_name(a, ip, sizeof(ip)) != 0) {
                return OA_EINVAL;
            }
            if (a->sin6_scope_id != 0) {
                char name[IF_NAMESIZE];
                if (if_indextoname(a->sin6_scope_id, name) != NULL) {
                    snprintf(scope, sizeof(scope), "%%%s", name);
                }
            }
            n = snprintf(buf, len, "[%s%s]:%u", ip, scope, (unsigned)ntohs(a->sin6_port));
        }
    } else {
        return OA_EINVAL;
    }
    if (n < 0 || (size_t)n >= len) {
        if (len > 0) {
            buf[0] = '\0';
        }
        return OA_EINVAL;
    }
    return 0;
}

int tcp_uv_err(int uverr)
{
    switch (uverr) {
    case 0:
        return 0;
    case UV_ETIMEDOUT:
        return OA_ETIMEDOUT;
    case UV_ECANCELED:
        return OA_ECANCELED;
    case UV_ENOMEM:
    case UV_ENOBUFS:
        return OA_ENOMEM;
    case UV_EADDRINUSE:
        return OA_EBUSY;
    case UV_EACCES:
    case UV_EPERM:
        return OA_EACCES;
    case UV_EINVAL:
    case UV_EAFNOSUPPORT:
    case UV_EADDRNOTAVAIL:
        return OA_EINVAL;
    case UV_EMFILE:
    case UV_ENFILE:
    case UV_EAGAIN:
        return OA_EAGAIN;
    default:
        return OA_EIO;
    }
}
