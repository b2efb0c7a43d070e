package credentials

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewKeyring(t *testing.T) {
	a, b := []byte("first-secret"), []byte("second-secret")
	cases := []struct {
		name    string
		in      [][]byte
		ok      bool
		wantLen int
	}{
		{"one", [][]byte{a}, true, 1},
		{"two", [][]byte{a, b}, true, 2},
		{"listed twice counts once", [][]byte{a, b, a}, true, 2},
		{"none", nil, false, 0},
		{"empty secret", [][]byte{a, {}}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKeyring(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("NewKeyring: %v; want ok=%v", err, tc.ok)
			}
			if err != nil {
				return
			}
			if k.Len() != tc.wantLen || k.Primary().ID() != SecretID(tc.in[0]) {
				t.Fatalf("len %d primary %s", k.Len(), k.Primary().ID())
			}
			for _, s := range k.All() {
				got, ok := k.ByID(s.ID())
				if !ok || got != s {
					t.Errorf("ByID(%s) = %v, %v", s.ID(), got, ok)
				}
			}
		})
	}
}

func TestKeyringCopiesItsInput(t *testing.T) {
	in := []byte("mutable-secret")
	k, err := NewKeyring([][]byte{in})
	if err != nil {
		t.Fatal(err)
	}
	want := k.Primary().Password("1:u")
	in[0] = 'X'
	if k.Primary().Password("1:u") != want {
		t.Fatal("the keyring shares the caller's bytes")
	}
	all := k.All()
	all[0] = nil
	if k.Primary() == nil {
		t.Fatal("All exposes the keyring's own slice")
	}
}

func TestSecretID(t *testing.T) {
	cases := []struct{ a, b string }{
		{"secret-one", "secret-two"},
		{"x", "y"},
	}
	for _, tc := range cases {
		ia, ib := SecretID([]byte(tc.a)), SecretID([]byte(tc.b))
		if !validSecretID(ia) || !validSecretID(ib) {
			t.Fatalf("IDs %q %q are not %d hex digits", ia, ib, SecretIDLen)
		}
		if ia == ib {
			t.Errorf("%q and %q share ID %s", tc.a, tc.b, ia)
		}
		if ia != SecretID([]byte(tc.a)) {
			t.Errorf("ID of %q is not stable", tc.a)
		}
	}
}

// TestTURNSecretNeverPrints: however a secret reaches a log line or a
// format verb, only its ID shows.
func TestTURNSecretNeverPrints(t *testing.T) {
	const value = "very-secret-turn-value"
	k, err := NewKeyring([][]byte{[]byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	s := k.Primary()
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("secret", "s", s, "keyring", k, "all", k.All())
	slog.New(slog.NewTextHandler(&logged, nil)).Info("secret", "s", s)
	outs := []string{logged.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s),
		fmt.Sprintf("%v %+v", k, k.All())}
	for _, out := range outs {
		if strings.Contains(out, value) {
			t.Errorf("the secret shows in %q", out)
		}
	}
	if !strings.Contains(fmt.Sprint(s), s.ID()) {
		t.Errorf("%q does not name the ID", fmt.Sprint(s))
	}
}

func TestTURNSecretMint(t *testing.T) {
	k, err := NewKeyring([][]byte{[]byte("golden_turn_static_secret")})
	if err != nil {
		t.Fatal(err)
	}
	u, p := k.Primary().Mint(time.Unix(1700086400, 0), "alice")
	if u != "1700086400:alice" || p != "TKPToJJJ1ln3/R5fy3oJreE5dFs=" || k.Primary().Password(u) != p {
		t.Fatalf("Mint %q %q", u, p)
	}
}

// TestKeyringHolderSwap: readers racing a reload see the old keyring or the
// new one, never a mix or nothing.
func TestKeyringHolderSwap(t *testing.T) {
	k1, _ := NewKeyring([][]byte{[]byte("one")})
	k2, _ := NewKeyring([][]byte{[]byte("two"), []byte("one")})
	h := NewKeyringHolder(k1)
	h.Store(nil)
	if h.Load() != k1 {
		t.Fatal("Store(nil) replaced the keyring")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if k := h.Load(); k != k1 && k != k2 {
					t.Error("Load returned neither keyring")
					return
				}
			}
		})
	}
	h.Store(k2)
	wg.Wait()
	if h.Load() != k2 {
		t.Fatal("Store did not swap")
	}
}
