package tokenapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// globalRegion is Twilio's name for "no region pinning".
const globalRegion = "global"

// hostPolicy decides which relay host goes into issued URLs.
type hostPolicy struct {
	public string // formatted; "" means the request's host
	// regions maps region → formatted host. It sits behind a pointer shared
	// by every copy of the policy so SetRegions can swap it while requests
	// are served.
	regions *atomic.Pointer[map[string]string]
}

func newHostPolicy(public string, regions map[string]string) (hostPolicy, error) {
	formatted := make(map[string]string, len(regions))
	p := hostPolicy{regions: new(atomic.Pointer[map[string]string])}
	p.regions.Store(&formatted)
	if public != "" {
		h, err := formatHost(public)
		if err != nil {
			return hostPolicy{}, fmt.Errorf("public host: %w", err)
		}
		p.public = h
	}
	for name, host := range regions {
		if name == "" {
			return hostPolicy{}, errors.New("region with an empty name")
		}
		h, err := formatHost(host)
		if err != nil {
			return hostPolicy{}, fmt.Errorf("region %q: %w", name, err)
		}
		formatted[name] = h
	}
	return p, nil
}

// errUnknownRegion is reported to the client as a bad Region parameter.
var errUnknownRegion = errors.New("unknown region")

// hostFor returns the relay host for region ("" = global) on request r.
func (p hostPolicy) hostFor(r *http.Request, region string) (string, error) {
	if region == "" {
		region = globalRegion
	}
	if h, ok := (*p.regions.Load())[region]; ok {
		return h, nil
	}
	if region != globalRegion {
		return "", errUnknownRegion
	}
	if p.public != "" {
		return p.public, nil
	}
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	if h == "" {
		return "", errors.New("request has no Host header and no public host is configured")
	}
	return formatHost(h)
}

// formatHost validates a host name or IP address and returns it as it goes
// into a URI: lowercase, IPv6 in brackets. The Host header is client input,
// so anything that is not a plain name or address is refused rather than
// copied into the URLs.
func formatHost(h string) (string, error) {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.Zone() != "" {
			return "", fmt.Errorf("host %q: zoned addresses cannot be used in URLs", h)
		}
		if ip.Is4() || ip.Is4In6() {
			return ip.Unmap().String(), nil
		}
		return "[" + ip.String() + "]", nil
	}
	h = strings.TrimSuffix(h, ".") // a fully qualified name is the same host
	if len(h) == 0 || len(h) > 253 {
		return "", fmt.Errorf("host name of %d bytes", len(h))
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("host %q is not a valid name", h)
		}
		for i := range len(label) {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return "", fmt.Errorf("host %q is not a valid name", h)
			}
		}
	}
	return strings.ToLower(h), nil
}
