package turncheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/pion/stun/v4"
)

// Kind classifies what went wrong, for scripts; Problem.Error says it for
// people.
type Kind string

const (
	KindUnreachable Kind = "unreachable" // no answer: a firewall drops it, or the host is down
	KindRefused     Kind = "refused"     // nothing listens on the TCP port
	KindTLSName     Kind = "tls_name"    // the certificate is for another name
	KindTLS         Kind = "tls"         // another TLS failure (untrusted, expired, no TLS)
	KindAuth        Kind = "credentials" // the server refused the credentials
	KindClock       Kind = "clock_skew"  // the server's clock disagrees with this one
	KindRealm       Kind = "realm"       // the server's realm is not the one expected
	KindQuota       Kind = "quota"       // the server is at its allocation quota (486) or out of ports (508)
	KindRelay       Kind = "relay"       // allocated, but nothing came back through the relay
	KindOther       Kind = "other"
)

// Problem is the first thing that failed for one target.
type Problem struct {
	Kind Kind
	// Step is what was being done: "connect", "binding", "allocate",
	// "permission", "relay".
	Step string
	msg  string
	err  error
}

func (p *Problem) Error() string {
	if p.err != nil {
		return p.msg + " (" + p.err.Error() + ")"
	}
	return p.msg
}

func (p *Problem) Unwrap() error { return p.err }

func problem(kind Kind, step, msg string, err error) *Problem {
	return &Problem{Kind: kind, Step: step, msg: msg, err: err}
}

// connectProblem explains a failure to open the transport to t.
func connectProblem(t Target, err error) *Problem {
	var (
		hostErr x509.HostnameError
		verr    *tls.CertificateVerificationError
		rhe     tls.RecordHeaderError
		ne      net.Error
	)
	switch {
	case errors.As(err, &hostErr):
		return problem(KindTLSName, "connect", "the TLS certificate of "+t.Addr()+" is not valid for "+hostErr.Host+
			namesOf(hostErr.Certificate), nil)
	case errors.As(err, &verr):
		return problem(KindTLS, "connect", "the TLS certificate of "+t.Addr()+" is not trusted", err)
	case errors.As(err, &rhe):
		return problem(KindTLS, "connect", t.Addr()+" does not speak TLS (is it a plain turn: port?)", nil)
	case t.Scheme == "turns" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return problem(KindTLS, "connect", t.Addr()+" closed the connection during the TLS handshake: it does not speak TLS (is it a plain turn: port?)", nil)
	case errors.Is(err, syscall.ECONNREFUSED):
		return problem(KindRefused, "connect", "connection refused: nothing listens on "+t.Addr()+"/tcp", nil)
	case errors.As(err, &ne) && ne.Timeout():
		return problem(KindUnreachable, "connect", "no answer from "+t.Addr()+"/tcp: the port is blocked by a firewall, or the host is down", nil)
	}
	return problem(KindOther, "connect", "cannot reach "+t.Addr(), err)
}

func namesOf(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	names := c.DNSNames
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName}
	}
	if len(names) == 0 {
		return ""
	}
	return ": it names " + strings.Join(names, ", ")
}

// stunCode is the STUN error code in err, or 0.
func stunCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

// isTimeout reports a transaction that got no answer.
func isTimeout(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// pion's client reports a transaction that ran out of retransmissions
	// with an unexported error, not a net.Error.
	return err != nil && strings.Contains(err.Error(), "all retransmissions failed")
}
