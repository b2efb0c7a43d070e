package turncheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// Credentials are what a check authenticates with.
type Credentials struct {
	Username, Password string
	// Mint, when set, makes TURN REST credentials valid for ttl: the check
	// then knows the secret, and can tell a server clock that is off (it
	// accepts credentials with another lifetime) from a wrong secret (it
	// accepts none). Username and Password are ignored.
	Mint func(ttl time.Duration) (username, password string)
}

// mintTTL is the lifetime of minted credentials; clockProbes are the other
// lifetimes tried when the server refuses them.
const mintTTL = time.Hour

var clockProbes = []struct {
	ttl   time.Duration
	ahead bool // accepted only this way round: the server's clock is ahead
}{
	{23 * time.Hour, true},
	{2 * time.Minute, false},
}

// Options tune a check.
type Options struct {
	// Timeout bounds each step (connect, each transaction, the echo).
	// Default 5 s.
	Timeout time.Duration
	// TLS is the client configuration for turns: targets; ServerName
	// defaults to the target's host. nil uses the system roots.
	TLS *tls.Config
	// Realm is the realm the caller expects; a server answering with
	// another is reported as a warning ("" skips the comparison).
	Realm string
}

// Result is the outcome for one target.
type Result struct {
	Target Target
	OK     bool
	// Mapped is the server-reflexive address the Binding answer gave.
	Mapped string
	// Relayed is the relay address allocated (TURN only).
	Relayed string
	// RTT is the Binding round trip for stun:, the round trip through the
	// relay and back for turn: and turns:.
	RTT time.Duration
	// Warnings are findings that did not fail the check.
	Warnings []string
	// Problem is the first failure; nil when OK.
	Problem *Problem
}

// Check tests one target: Binding, then for TURN an allocation whose relay
// address sends a datagram to a second allocation's relay address and gets
// it back (relay to relay, so no peer outside the server is needed).
func Check(ctx context.Context, t Target, c Credentials, o Options) Result {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	r := Result{Target: t}
	r.Problem = check(ctx, t, c, o, &r)
	r.OK = r.Problem == nil
	return r
}

func check(ctx context.Context, t Target, c Credentials, o Options, r *Result) *Problem {
	if t.Scheme == "stun" {
		s, p := open(ctx, t, "", "", o)
		if p != nil {
			return p
		}
		defer s.close()
		start := time.Now()
		mapped, p := s.binding(t)
		if p != nil {
			return p
		}
		r.RTT, r.Mapped = time.Since(start), mapped
		return nil
	}
	a, p := allocate(ctx, t, c, o, r)
	if p != nil {
		return p
	}
	defer a.close()
	b, p := allocate(ctx, t, c, o, nil)
	if p != nil {
		return p
	}
	defer b.close()
	r.Relayed = a.relay.LocalAddr().String()
	rtt, p := echo(a, b, o.Timeout)
	if p != nil {
		return p
	}
	r.RTT = rtt
	return nil
}

// session is one client transport with a pion client on it.
type session struct {
	conn   net.PacketConn
	client *turn.Client
	relay  net.PacketConn
}

func (s *session) close() {
	if s.relay != nil {
		_ = s.relay.Close() // sends the Refresh with lifetime 0
	}
	s.client.Close()
	_ = s.conn.Close()
}

// open connects to t and starts a pion client with the credentials.
func open(ctx context.Context, t Target, user, pass string, o Options) (*session, *Problem) {
	conn, err := dial(ctx, t, o)
	if err != nil {
		return nil, connectProblem(t, err)
	}
	cl, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: t.Addr(),
		TURNServerAddr: t.Addr(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          o.Realm,
		// Seven transmissions doubling from RTO fit about 127 RTOs: keep
		// an unanswered transaction inside the step's timeout.
		RTO:           max(o.Timeout/127, 10*time.Millisecond),
		LoggerFactory: &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled},
	})
	if err != nil {
		conn.Close()
		return nil, problem(KindOther, "connect", "cannot start a TURN client for "+t.Addr(), err)
	}
	if err := cl.Listen(); err != nil {
		cl.Close()
		conn.Close()
		return nil, problem(KindOther, "connect", "cannot start a TURN client for "+t.Addr(), err)
	}
	return &session{conn: conn, client: cl}, nil
}

func dial(ctx context.Context, t Target, o Options) (net.PacketConn, error) {
	if t.Transport == "udp" {
		// A socket of the server's family: pion's client asks for a relay
		// of the family of its local address.
		ra, err := net.ResolveUDPAddr("udp", t.Addr())
		if err != nil {
			return nil, err
		}
		if ra.IP.To4() != nil {
			return net.ListenPacket("udp4", "0.0.0.0:0")
		}
		return net.ListenPacket("udp6", "[::]:0")
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	nd := &net.Dialer{}
	if t.Scheme != "turns" {
		c, err := nd.DialContext(ctx, "tcp", t.Addr())
		if err != nil {
			return nil, err
		}
		return turn.NewSTUNConn(c), nil
	}
	cfg := &tls.Config{}
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.Host
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"stun.turn"} // RFC 7443
	}
	c, err := (&tls.Dialer{NetDialer: nd, Config: cfg}).DialContext(ctx, "tcp", t.Addr())
	if err != nil {
		return nil, err
	}
	return turn.NewSTUNConn(c), nil
}

// binding sends a Binding request and returns the mapped address.
func (s *session) binding(t Target) (string, *Problem) {
	mapped, err := s.client.SendBindingRequest()
	if err == nil {
		return mapped.String(), nil
	}
	if isTimeout(err) {
		if t.Transport == "udp" {
			return "", problem(KindUnreachable, "binding", "no answer from "+t.Addr()+"/udp: the port is blocked by a firewall, or nothing listens there", nil)
		}
		return "", problem(KindUnreachable, "binding", t.Addr()+" accepted the connection but did not answer STUN (is it a TURN port?)", nil)
	}
	return "", problem(KindOther, "binding", "Binding request to "+t.Addr()+" failed", err)
}

// allocate opens a session with a relay address. With r, the Binding
// answer and realm findings are recorded there; minted credentials that the
// server refuses are tried with other lifetimes to tell clock skew from a
// wrong secret.
func allocate(ctx context.Context, t Target, c Credentials, o Options, r *Result) (*session, *Problem) {
	user, pass := c.Username, c.Password
	if c.Mint != nil {
		user, pass = c.Mint(mintTTL)
	}
	s, p := tryAllocate(ctx, t, user, pass, o, r)
	if p == nil || p.Kind != KindAuth || c.Mint == nil {
		return s, p
	}
	for _, probe := range clockProbes {
		u, pw := c.Mint(probe.ttl)
		if s2, p2 := tryAllocate(ctx, t, u, pw, o, nil); p2 == nil {
			s2.close()
			way := "behind"
			if probe.ahead {
				way = "ahead of"
			}
			return nil, problem(KindClock, "allocate", fmt.Sprintf("the server refused credentials valid for %v but accepted ones valid for %v: "+
				"its clock is %s this machine's by more than its skew tolerance; fix NTP on one of them", mintTTL, probe.ttl, way), nil)
		}
	}
	return nil, problem(KindAuth, "allocate", "the server refused the credentials (401): the secret is not one the server has", nil)
}

func tryAllocate(ctx context.Context, t Target, user, pass string, o Options, r *Result) (*session, *Problem) {
	s, p := open(ctx, t, user, pass, o)
	if p != nil {
		return nil, p
	}
	mapped, p := s.binding(t)
	if p != nil {
		s.close()
		return nil, p
	}
	actx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	relay, err := s.client.AllocateWithContext(actx)
	if r != nil {
		r.Mapped = mapped
		if realm := s.client.Realm().String(); o.Realm != "" && realm != "" && realm != o.Realm {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the server's realm is %q, not %q: clients configured with a fixed realm are refused", realm, o.Realm))
		}
	}
	if err != nil {
		s.close()
		return nil, allocateProblem(t, err)
	}
	s.relay = relay
	return s, nil
}

func allocateProblem(t Target, err error) *Problem {
	switch code := stunCode(err); {
	case code == 401:
		return problem(KindAuth, "allocate", "the server refused the credentials (401): wrong username or password, or they have expired", nil)
	case code == 486:
		return problem(KindQuota, "allocate", "the server is at an allocation quota for these credentials (486)", nil)
	case code == 508:
		return problem(KindQuota, "allocate", "the server cannot allocate a relay port (508): out of ports, or the address family is not served", nil)
	case code != 0:
		return problem(KindOther, "allocate", "the server refused the allocation ("+strconv.Itoa(code)+")", err)
	case isTimeout(err):
		return problem(KindUnreachable, "allocate", "no answer to Allocate from "+t.Addr(), nil)
	}
	return problem(KindOther, "allocate", "Allocate on "+t.Addr()+" failed", err)
}

// echo sends a datagram from a's relay address to b's and back, until it
// returns or timeout passes, and reports the round trip.
func echo(a, b *session, timeout time.Duration) (time.Duration, *Problem) {
	aAddr, bAddr := a.relay.LocalAddr(), b.relay.LocalAddr()
	if err := a.client.CreatePermission(bAddr); err != nil {
		return 0, permissionProblem(bAddr, err)
	}
	if err := b.client.CreatePermission(aAddr); err != nil {
		return 0, permissionProblem(aAddr, err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // b echoes what reaches it, until the check ends
		buf := make([]byte, 1500)
		for {
			_ = b.relay.SetReadDeadline(time.Now().Add(timeout))
			n, from, err := b.relay.ReadFrom(buf)
			select {
			case <-done:
				return
			default:
			}
			if err != nil {
				continue
			}
			_, _ = b.relay.WriteTo(buf[:n], from)
		}
	}()
	payload := []byte("turnkey-check-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	buf := make([]byte, 1500)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		start := time.Now()
		if _, err := a.relay.WriteTo(payload, bAddr); err != nil {
			return 0, problem(KindRelay, "relay", "cannot send through the relay", err)
		}
		wait := time.Now().Add(500 * time.Millisecond)
		if wait.After(deadline) {
			wait = deadline
		}
		_ = a.relay.SetReadDeadline(wait)
		for {
			n, _, err := a.relay.ReadFrom(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break // send again
			}
			if err != nil {
				return 0, problem(KindRelay, "relay", "reading from the relay failed", err)
			}
			if bytes.Equal(buf[:n], payload) {
				return time.Since(start), nil
			}
		}
	}
	return 0, problem(KindRelay, "relay", fmt.Sprintf("allocated %s, but nothing sent through it came back within %v "+
		"(the relay address is not reachable from the server itself: check public_ip and the firewall for the relay port range)", aAddr, timeout), nil)
}

func permissionProblem(peer net.Addr, err error) *Problem {
	if stunCode(err) == 403 {
		return problem(KindRelay, "permission", "the server's peer policy forbids its own relay address "+peer.String()+
			" (relay to relay); allow it to run this check", nil)
	}
	return problem(KindRelay, "permission", "CreatePermission for "+peer.String()+" failed", err)
}
