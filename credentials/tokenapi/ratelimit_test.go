package tokenapi

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/turnkey-dev/turnkey/credentials"
)

func TestFailureLimiter(t *testing.T) {
	start := time.Unix(1700000000, 0)
	tests := []struct {
		name        string
		perMinute   int
		failures    int
		after       time.Duration
		addr        string
		probe       string
		wantBlocked bool
	}{
		{"under the limit", 5, 4, 0, "192.0.2.1:1000", "192.0.2.1:2000", false},
		{"at the limit", 5, 5, 0, "192.0.2.1:1000", "192.0.2.1:2000", true},
		{"refilled one token", 5, 5, 12 * time.Second, "192.0.2.1:1000", "192.0.2.1:1", false},
		{"not yet refilled", 5, 5, 11 * time.Second, "192.0.2.1:1000", "192.0.2.1:1", true},
		{"other address unaffected", 5, 5, 0, "192.0.2.1:1000", "192.0.2.2:1000", false},
		{"same ipv6 /64", 3, 3, 0, "[2001:db8::1]:1", "[2001:db8::ffff]:2", true},
		{"other ipv6 /64", 3, 3, 0, "[2001:db8::1]:1", "[2001:db8:0:1::1]:2", false},
		{"v4-mapped is v4", 2, 2, 0, "[::ffff:192.0.2.9]:1", "192.0.2.9:5", true},
		{"disabled", 0, 100, 0, "192.0.2.1:1000", "192.0.2.1:1000", false},
		{"unparsable address never limited", 1, 5, 0, "pipe", "pipe", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := start
			l := newFailureLimiter(tc.perMinute, 100, func() time.Time { return now })
			for range tc.failures {
				l.Fail(tc.addr)
			}
			now = now.Add(tc.after)
			wait, blocked := l.Blocked(tc.probe)
			if blocked != tc.wantBlocked {
				t.Fatalf("blocked %v; want %v", blocked, tc.wantBlocked)
			}
			if blocked && (wait < time.Second || wait > time.Minute) {
				t.Errorf("wait %v out of range", wait)
			}
		})
	}
}

func TestFailureLimiterBoundedMemory(t *testing.T) {
	now := time.Unix(1700000000, 0)
	l := newFailureLimiter(10, 50, func() time.Time { return now })
	for i := range 200 {
		l.Fail("198.51.100." + strconv.Itoa(i%250) + ":1")
	}
	if n := l.Len(); n > 50 {
		t.Fatalf("%d sources tracked; bound is 50", n)
	}
	// Once idle entries have refilled, a sweep frees room for new sources.
	now = now.Add(2 * time.Minute)
	l.Fail("203.0.113.1:1")
	if n := l.Len(); n != 1 {
		t.Errorf("%d sources after idle entries expired; want 1", n)
	}
}

func TestFailureLimiterConcurrent(t *testing.T) {
	l := newFailureLimiter(1000, 1000, time.Now)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				addr := "192.0.2." + strconv.Itoa((i*200+j)%50) + ":1"
				l.Fail(addr)
				l.Blocked(addr)
			}
		})
	}
	wg.Wait()
}

func TestAuthRateLimitHTTP(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.AuthFailuresPerMinute = 3 })
	for i := range 3 {
		res, _ := e.do("POST", e.tokensPath(), e.account.SID, "wrongwrongwrong", "", nil)
		if res.StatusCode != 401 {
			t.Fatalf("failure %d: status %d; want 401", i, res.StatusCode)
		}
	}
	tests := []struct {
		name string
		call func() (int, string, []byte)
	}{
		{"right credentials are refused too", func() (int, string, []byte) {
			res, b := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", nil)
			return res.StatusCode, res.Header.Get("Retry-After"), b
		}},
		{"bearer route", func() (int, string, []byte) {
			res, b := e.iceCall("GET", "x.y.z", "", "", nil)
			return res.StatusCode, res.Header.Get("Retry-After"), b
		}},
		{"keys route", func() (int, string, []byte) {
			res, b := e.do("GET", e.keysPath(), e.account.SID, e.account.AuthToken, "", nil)
			return res.StatusCode, res.Header.Get("Retry-After"), b
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, retry, body := tc.call()
			if status != 429 {
				t.Fatalf("status %d; want 429", status)
			}
			secs, err := strconv.Atoi(retry)
			if err != nil || secs < 1 || secs > 60 {
				t.Errorf("Retry-After %q", retry)
			}
			var te twilioError
			if json.Unmarshal(body, &te) != nil || te.Code != 20429 || te.Status != 429 {
				t.Errorf("envelope %s", body)
			}
		})
	}
	// 20 seconds refill one failure (3 a minute).
	e.clock.Advance(20 * time.Second)
	if res, body := e.do("POST", e.tokensPath(), e.account.SID, e.account.AuthToken, "", nil); res.StatusCode != 201 {
		t.Errorf("after refill: %d %s", res.StatusCode, body)
	}
	if got := testutil.ToFloat64(e.api.metrics.authFailures.WithLabelValues("rate_limited")); got != 3 {
		t.Errorf("rate_limited failures %v; want 3", got)
	}
	if got := testutil.ToFloat64(e.api.metrics.authFailures.WithLabelValues("basic")); got != 3 {
		t.Errorf("basic failures %v; want 3", got)
	}
	if strings.Contains(e.logs.String(), "wrongwrongwrong") {
		t.Error("a wrong password reached the log")
	}
}

func TestExpiredTokensDoNotLockOut(t *testing.T) {
	e := newEnv(t, nil, func(c *Config) { c.AuthFailuresPerMinute = 2 })
	key, _ := e.store.CreateKey(t.Context(), e.account.SID, "web")
	expired, err := credentials.AccessToken{AccountSID: e.account.SID, KeySID: key.SID, Secret: key.Secret, TTL: time.Minute,
		Grants: credentials.Grants{Identity: "alice"}}.Sign(e.clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if res, body := e.iceCall("GET", expired, "", "", nil); res.StatusCode != 401 {
			t.Fatalf("expired token: %d %s; want 401", res.StatusCode, body)
		}
	}
	// Forged tokens do count.
	for range 2 {
		e.iceCall("GET", expired[:len(expired)-3]+"AAA", "", "", nil)
	}
	if res, _ := e.iceCall("GET", e.accessToken(t, key, "alice", time.Hour), "", "", nil); res.StatusCode != 429 {
		t.Errorf("after forged tokens: %d; want 429", res.StatusCode)
	}
}
