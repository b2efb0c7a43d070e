package store

import (
	"fmt"
	"time"
)

// common is what both backends share: sealing, the clock, and building
// records before they are written.
type common struct {
	seal *sealer
	// now is time.Now outside tests; tests replace it to control ordering
	// and pruning.
	now func() time.Time
}

func newCommon(s *sealer) common {
	return common{seal: s, now: time.Now}
}

// timestamp is the current time as stored: UTC, whole seconds.
func (c *common) timestamp() time.Time {
	return c.now().UTC().Truncate(time.Second)
}

// setClock lets tests pin the time records are stamped with.
func (c *common) setClock(now func() time.Time) {
	c.now = now
}

// newAccount builds a fresh account and its sealed auth token.
func (c *common) newAccount(friendlyName string) (Account, []byte, error) {
	token, tokenID, err := newAccountCredentials()
	if err != nil {
		return Account{}, nil, err
	}
	sid, sealed, now, err := c.newSealed(friendlyName, accountPrefix, authTokenContext, token)
	if err != nil {
		return Account{}, nil, err
	}
	return Account{
		SID:          sid,
		FriendlyName: friendlyName,
		AuthToken:    token,
		AuthTokenID:  tokenID,
		Status:       StatusActive,
		DateCreated:  now,
		DateUpdated:  now,
	}, sealed, nil
}

// newKey builds a fresh key for accountSID and its sealed secret.
func (c *common) newKey(accountSID, friendlyName string, main bool) (Key, []byte, error) {
	secret, err := newKeySecret()
	if err != nil {
		return Key{}, nil, err
	}
	sid, sealed, now, err := c.newSealed(friendlyName, keyPrefix, keySecretContext, secret)
	if err != nil {
		return Key{}, nil, err
	}
	return Key{
		SID:          sid,
		AccountSID:   accountSID,
		FriendlyName: friendlyName,
		Secret:       secret,
		Main:         main,
		DateCreated:  now,
		DateUpdated:  now,
	}, sealed, nil
}

// newSealed checks a new record's name, gives it a SID with prefix and
// seals its secret under sealContext(SID); now is its creation time.
func (c *common) newSealed(friendlyName, prefix string, sealContext func(string) string, secret string) (sid string, sealed []byte, now time.Time, err error) {
	if err := checkFriendlyName(friendlyName); err != nil {
		return "", nil, time.Time{}, err
	}
	if sid, err = newSID(prefix); err != nil {
		return "", nil, time.Time{}, err
	}
	if sealed, err = c.seal.seal(sealContext(sid), secret); err != nil {
		return "", nil, time.Time{}, err
	}
	return sid, sealed, c.timestamp(), nil
}

// rotatedToken is a replacement auth token for an account.
type rotatedToken struct {
	token, tokenID string
	sealed         []byte
}

func (c *common) newToken(accountSID string) (rotatedToken, error) {
	token, tokenID, err := newAccountCredentials()
	if err != nil {
		return rotatedToken{}, err
	}
	sealed, err := c.seal.seal(authTokenContext(accountSID), token)
	if err != nil {
		return rotatedToken{}, err
	}
	return rotatedToken{token: token, tokenID: tokenID, sealed: sealed}, nil
}

// unsealAccount fills in the auth token of an account read from the database.
func (c *common) unsealAccount(a *Account, sealed []byte) error {
	token, err := c.seal.open(authTokenContext(a.SID), sealed)
	if err != nil {
		return err
	}
	a.AuthToken = token
	return nil
}

// unsealKey fills in the secret of a key read from the database.
func (c *common) unsealKey(k *Key, sealed []byte) error {
	secret, err := c.seal.open(keySecretContext(k.SID), sealed)
	if err != nil {
		return err
	}
	k.Secret = secret
	return nil
}

// requireAccount rejects an empty account SID where a method must act within
// one account, so a caller's bug cannot widen an update or delete to any key.
func requireAccount(accountSID string) error {
	if accountSID == "" {
		return fmt.Errorf("%w: account SID is required", ErrInvalid)
	}
	return nil
}

// checkLimit rejects a feed page size that would return nothing or everything.
func checkLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("%w: limit %d must be positive", ErrInvalid, limit)
	}
	return nil
}

func notFoundAccount(sid string) error {
	return fmt.Errorf("%w: account %q", ErrNotFound, sid)
}

func notFoundKey(accountSID, keySID string) error {
	if accountSID == "" {
		return fmt.Errorf("%w: key %q", ErrNotFound, keySID)
	}
	return fmt.Errorf("%w: key %q of account %q", ErrNotFound, keySID, accountSID)
}
