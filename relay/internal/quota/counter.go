package quota

import "sync"

// Limits caps concurrent allocations. Zero (or a negative value) means
// unlimited for that kind.
type Limits struct {
	PerIdentity int
	PerAccount  int
	Total       int
}

// Kinds of limit reported by Acquire; they are metric label values.
const (
	KindIdentity = "identity"
	KindAccount  = "account"
	KindTotal    = "total"
)

// Counter tracks live allocations. The zero value is not usable; use New.
// A nil *Counter imposes no limits and counts nothing, so quota can be
// switched off by not constructing one.
type Counter struct {
	mu         sync.Mutex
	limits     Limits
	identities map[string]int
	accounts   map[string]int
	total      int
}

// New returns a Counter enforcing l.
func New(l Limits) *Counter {
	return &Counter{
		limits:     l,
		identities: make(map[string]int),
		accounts:   make(map[string]int),
	}
}

// SetLimits replaces the limits (config reload). Existing allocations are
// kept even if they now exceed the new limits: they drain through Release,
// and Acquire refuses new ones until counts are below the limits again.
func (c *Counter) SetLimits(l Limits) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.limits = l
	c.mu.Unlock()
}

// Limits returns the limits in force.
func (c *Counter) Limits() Limits {
	if c == nil {
		return Limits{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// Acquire reserves one allocation for identityKey (for REST credentials, the
// user part without the expiry, so renewed credentials share a quota) and
// accountKey ("" when there is no account to count against). On refusal,
// kind names the limit hit, checked from the most specific: KindIdentity,
// KindAccount, KindTotal. Every successful Acquire must be paired with one
// Release with the same keys.
func (c *Counter) Acquire(identityKey, accountKey string) (ok bool, kind string) {
	if c == nil {
		return true, ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.limits
	if over(c.identities[identityKey], l.PerIdentity) {
		return false, KindIdentity
	}
	if accountKey != "" && over(c.accounts[accountKey], l.PerAccount) {
		return false, KindAccount
	}
	if over(c.total, l.Total) {
		return false, KindTotal
	}
	c.identities[identityKey]++
	if accountKey != "" {
		c.accounts[accountKey]++
	}
	c.total++
	return true, ""
}

// over reports whether one more allocation would exceed limit.
func over(count, limit int) bool {
	return limit > 0 && count >= limit
}

// Release returns an allocation reserved by Acquire. A Release that matches
// no live allocation of identityKey (a double release, or keys that were
// never acquired) is ignored, so counts never go negative and an unbalanced
// caller cannot free capacity that belongs to someone else.
func (c *Counter) Release(identityKey, accountKey string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !decrement(c.identities, identityKey) {
		return
	}
	if accountKey != "" {
		decrement(c.accounts, accountKey)
	}
	if c.total > 0 {
		c.total--
	}
}

// decrement lowers m[key] by one, deleting the key at zero so memory stays
// bounded by the number of live allocations. It reports whether the key had
// a positive count.
func decrement(m map[string]int, key string) bool {
	n, found := m[key]
	if !found || n <= 0 {
		return false
	}
	if n == 1 {
		delete(m, key)
	} else {
		m[key] = n - 1
	}
	return true
}

// Active returns the number of live allocations.
func (c *Counter) Active() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
