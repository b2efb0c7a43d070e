package store

import (
	"regexp"
	"strings"
	"testing"
)

func TestGeneratedIdentifiers(t *testing.T) {
	tests := []struct {
		name    string
		gen     func() (string, error)
		pattern *regexp.Regexp
	}{
		{"account SID", func() (string, error) { return newSID(accountPrefix) }, accountSIDPattern},
		{"key SID", func() (string, error) { return newSID(keyPrefix) }, keySIDPattern},
		{"auth token ID", func() (string, error) { return newSID(authTokenPrefix) }, tokenIDPattern},
		{"auth token", newAuthToken, authTokenPattern},
		{"key secret", newKeySecret, keySecretPattern},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 1000 {
				v, err := tt.gen()
				if err != nil {
					t.Fatal(err)
				}
				if !tt.pattern.MatchString(v) {
					t.Fatalf("%q does not match %s", v, tt.pattern)
				}
				if seen[v] {
					t.Fatalf("%q generated twice", v)
				}
				seen[v] = true
			}
		})
	}
}

// TestKeySecretAlphabet checks that rejection sampling reaches every
// character, including the last ones a biased modulo would favour least.
func TestKeySecretAlphabet(t *testing.T) {
	counts := map[rune]int{}
	for range 2000 {
		s, err := newKeySecret()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s {
			counts[r]++
		}
	}
	for _, r := range secretAlphabet {
		if counts[r] == 0 {
			t.Errorf("%q never generated", r)
		}
	}
	for r := range counts {
		if !strings.ContainsRune(secretAlphabet, r) {
			t.Errorf("%q is not in the alphabet", r)
		}
	}
	// 64000 draws over 62 characters: about 1032 each. A bias towards the
	// first 8 characters (plain modulo) would give them about 1290.
	for r, n := range counts {
		if n < 850 || n > 1220 {
			t.Errorf("%q drawn %d times, want about 1032", r, n)
		}
	}
}
