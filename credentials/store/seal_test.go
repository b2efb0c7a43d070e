package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealRoundTrip(t *testing.T) {
	s, err := newSealer(randomKey(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"", "x", "0123456789abcdef0123456789abcdef", strings.Repeat("ü", 100)} {
		a, err := s.seal("ctx", plain)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.seal("ctx", plain)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, b) {
			t.Errorf("sealing %q twice gave the same bytes: nonces are not fresh", plain)
		}
		// A short plaintext turns up in random ciphertext by chance (one
		// byte in roughly one run of eight), so only long ones are checked.
		if len(plain) >= 8 && bytes.Contains(a, []byte(plain)) {
			t.Errorf("sealed %q contains the plaintext", plain)
		}
		got, err := s.open("ctx", a)
		if err != nil || got != plain {
			t.Errorf("open(seal(%q)) = %q, %v", plain, got, err)
		}
	}
}

func TestSealOpenFailures(t *testing.T) {
	s, err := newSealer(randomKey(t))
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSealer(randomKey(t))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.seal(keySecretContext("SK1"), "secret")
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 9

	tests := []struct {
		name     string
		sealer   *sealer
		context  string
		value    []byte
		mismatch bool // want ErrSealKeyMismatch
		want     string
	}{
		{"other key", other, keySecretContext("SK1"), sealed, true, "store: cannot unseal key secret of SK1: the store encryption key differs from the one that wrote this database"},
		{"other row", s, keySecretContext("SK2"), sealed, true, "cannot unseal key secret of SK2"},
		{"other column", s, authTokenContext("SK1"), sealed, true, "cannot unseal auth token of SK1"},
		{"tampered", s, keySecretContext("SK1"), tampered, true, "differs"},
		{"unknown version", s, keySecretContext("SK1"), badVersion, false, "unknown format version 9"},
		{"truncated", s, keySecretContext("SK1"), sealed[:10], false, "too short"},
		{"empty", s, keySecretContext("SK1"), nil, false, "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.sealer.open(tt.context, tt.value)
			if err == nil {
				t.Fatal("open succeeded")
			}
			if errors.Is(err, ErrSealKeyMismatch) != tt.mismatch || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q (mismatch=%v), want %q (mismatch=%v)", err, errors.Is(err, ErrSealKeyMismatch), tt.want, tt.mismatch)
			}
		})
	}
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := newSealer(make([]byte, n)); err == nil {
			t.Errorf("newSealer accepted a %d-byte key", n)
		}
	}
}
