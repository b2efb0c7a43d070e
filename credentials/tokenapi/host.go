package tokenapi

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
)

// globalRegion is Twilio's name for "no region pinning".
const globalRegion = "global"

// hostPolicy decides which relay hosts go into issued URLs.
type hostPolicy struct {
	public string // formatted; "" means the request's host
	// stun and turn, when set, name the STUN and the TURN servers apart,
	// as Twilio's global.stun.twilio.com and global.turn.twilio.com do; a
	// leading "global" label is replaced by the region's name to pin one.
	stun, turn string
	// regions maps region → formatted host. It sits behind a pointer shared
	// by every copy of the policy so SetRegions can swap it while requests
	// are served.
	regions *atomic.Pointer[map[string]string]
}

// hostPair is where the STUN and the TURN URIs of one answer point.
type hostPair struct{ stun, turn string }

func newHostPolicy(public string, regions map[string]string) (hostPolicy, error) {
	return newHostPolicyNamed(public, "", "", regions)
}

// newHostPolicyNamed is newHostPolicy with separate STUN and TURN host
// names (either may be empty: the public or request host).
func newHostPolicyNamed(public, stun, turn string, regions map[string]string) (hostPolicy, error) {
	formatted := make(map[string]string, len(regions))
	p := hostPolicy{regions: new(atomic.Pointer[map[string]string])}
	p.regions.Store(&formatted)
	for _, h := range []struct {
		what string
		in   string
		out  *string
	}{{"public host", public, &p.public}, {"STUN host", stun, &p.stun}, {"TURN host", turn, &p.turn}} {
		if h.in == "" {
			continue
		}
		f, err := formatHost(h.in)
		if err != nil {
			return hostPolicy{}, fmt.Errorf("%s: %w", h.what, err)
		}
		*h.out = f
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

// regionLabel is what a region must look like to become a host label.
var regionLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// hostFor returns the relay hosts for region ("" = global) on request r:
// the region's configured host for both; else, when the STUN or TURN host
// starts with a "global" label, that label replaced by the region (Twilio's
// convention: global.turn.twilio.com → <region>.turn.twilio.com); for
// global, the STUN and TURN hosts, falling back to the public host and
// then the request's.
func (p hostPolicy) hostFor(r *http.Request, region string) (hostPair, error) {
	if region == "" {
		region = globalRegion
	}
	if h, ok := (*p.regions.Load())[region]; ok {
		return hostPair{stun: h, turn: h}, nil
	}
	base := p.public
	if base == "" && (p.stun == "" || p.turn == "") {
		h := r.Host
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		if h == "" {
			return hostPair{}, errors.New("request has no Host header and no public host is configured")
		}
		f, err := formatHost(h)
		if err != nil {
			return hostPair{}, err
		}
		base = f
	}
	hosts := hostPair{stun: cmp.Or(p.stun, base), turn: cmp.Or(p.turn, base)}
	if region == globalRegion {
		return hosts, nil
	}
	stunRest, stunGlobal := strings.CutPrefix(p.stun, globalRegion+".")
	turnRest, turnGlobal := strings.CutPrefix(p.turn, globalRegion+".")
	if (!stunGlobal && !turnGlobal) || !regionLabel.MatchString(region) {
		return hostPair{}, errUnknownRegion
	}
	if stunGlobal {
		hosts.stun = region + "." + stunRest
	}
	if turnGlobal {
		hosts.turn = region + "." + turnRest
	}
	return hosts, nil
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
