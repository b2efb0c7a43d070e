package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/internal/testenv"
	"github.com/turnkey-dev/turnkey/internal/testnet"
)

// libraryAccountsRun is what clients/node/twilio-accounts.js and
// clients/python/twilio_accounts.py print.
type libraryAccountsRun struct {
	Created struct {
		SID, Owner, Status string
		HasToken           bool
	}
	SubFetchesItself string
	Listed           []string
	StandardOnKeys   libraryRefusal
	StandardToken    bool
	MainListsKeys    bool
	Removed          int
	KeysLeft         int
	Token            struct {
		AccountSID string `json:"accountSid"`
		Servers    int
	}
	Suspended      string
	SuspendedFetch libraryRefusal
	SuspendedToken libraryRefusal
	ParentSees     string
	Reactivated    string
	TokenAgain     bool
	Usage          []struct{ Category, Usage, Unit, Account string }
}

type libraryRefusal struct {
	Status, Code int
	Unexpected   string
}

// pythonTwilio finds a python3 that imports Debian's python3-twilio: the
// one on PATH, else the system's (a pyenv python3 may shadow it).
func pythonTwilio(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		tried = append(tried, path)
		if exec.Command(path, "-c", "import twilio").Run() == nil {
			return path
		}
	}
	testenv.Require(t, "no python3 with the twilio package (tried %v): apt-get install python3-twilio", tried)
	return ""
}

// TestHelperLibrariesDriveAccountsAndUsage: npm twilio and python3-twilio
// create a subaccount, fetch and list it, manage its keys (a Standard key
// is refused on Keys, a Main key is not; page-and-remove removes all), get a token, suspend
// it (refused with 20005) and reactivate it, and read as usage records of
// category turnmegabytes the bytes this test relayed through the server.
func TestHelperLibrariesDriveAccountsAndUsage(t *testing.T) {
	type lib struct {
		name string
		cmd  func(t *testing.T) []string // t is the subtest's: a skip skips that library only
	}
	libs := []lib{
		{"npm twilio", func(t *testing.T) []string {
			node, script := requireNodeTwilio(t)
			return []string{node, filepath.Join(filepath.Dir(script), "twilio-accounts.js")}
		}},
		{"python3-twilio", func(t *testing.T) []string {
			return []string{pythonTwilio(t), filepath.Join("..", "..", "clients", "python", "twilio_accounts.py")}
		}},
	}
	for _, l := range libs {
		t.Run(l.name, func(t *testing.T) {
			argv := l.cmd(t)
			n := startTestNode(t, func(c *config.Config) { c.Store.UsageFlush = config.Duration(200 * time.Millisecond) })
			peer := testnet.UDPEcho(t)
			admin := n.admin(t)
			want := relayCounted(t, turnServers(fetchToken(t, admin))[0], peer, 20, 777)
			wantMB := strconv.FormatFloat(float64(want)/1e6, 'f', -1, 64)
			testenv.WaitFor(t, "the relayed bytes in the usage records", 10*time.Second, func() bool {
				recs, err := admin.Api.ListUsageRecord(&openapi.ListUsageRecordParams{Category: ptrTo("turnmegabytes")})
				return err == nil && len(recs) == 1 && *recs[0].Usage == wantMB
			})

			mainKey, err := n.store.CreateMainKey(t.Context(), n.AccountSID, "main")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Env = append(libraryEnv(), "BASE_URL="+n.API, "ACCOUNT_SID="+n.AccountSID, "AUTH_TOKEN="+n.AuthToken,
				"MAIN_KEY="+mainKey.SID, "MAIN_SECRET="+mainKey.Secret)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", argv[1], err, stderr.String())
			}
			var got libraryAccountsRun
			if err := json.Unmarshal(stdout, &got); err != nil {
				t.Fatalf("%s printed %q: %v", argv[1], stdout, err)
			}
			sub := got.Created.SID
			if got.Created.Owner != n.AccountSID || got.Created.Status != "active" || !got.Created.HasToken || got.SubFetchesItself == "" {
				t.Errorf("created %+v, fetched %q", got.Created, got.SubFetchesItself)
			}
			if len(got.Listed) != 2 || !slices.Contains(got.Listed, sub) || !slices.Contains(got.Listed, n.AccountSID) {
				t.Errorf("listed %v; want the parent and %s", got.Listed, sub)
			}
			if got.StandardOnKeys.Status != 401 || got.StandardOnKeys.Code != 20003 || !got.StandardToken || !got.MainListsKeys {
				t.Errorf("Standard key: on Keys %+v, token %v; Main key lists keys %v; want 401/20003, a token, true",
					got.StandardOnKeys, got.StandardToken, got.MainListsKeys)
			}
			if got.Removed != 5 || got.KeysLeft != 0 {
				t.Errorf("page-and-remove removed %d, left %d; want 5, 0", got.Removed, got.KeysLeft)
			}
			if got.Token.AccountSID != sub || got.Token.Servers == 0 {
				t.Errorf("token %+v", got.Token)
			}
			if got.Suspended != "suspended" || got.ParentSees != "suspended" || got.Reactivated != "active" || !got.TokenAgain {
				t.Errorf("suspend %q, parent sees %q, reactivate %q, token again %v", got.Suspended, got.ParentSees, got.Reactivated, got.TokenAgain)
			}
			for what, r := range map[string]libraryRefusal{"fetch": got.SuspendedFetch, "token": got.SuspendedToken} {
				if r.Status != 401 || r.Code != 20005 {
					t.Errorf("suspended subaccount's %s: %+v; want 401/20005", what, r)
				}
			}
			if len(got.Usage) != 1 || got.Usage[0].Category != "turnmegabytes" || got.Usage[0].Usage != wantMB ||
				got.Usage[0].Unit != "megabytes" || got.Usage[0].Account != n.AccountSID {
				t.Errorf("usage records %+v; want turnmegabytes = %s megabytes", got.Usage, wantMB)
			}
		})
	}
}

// libraryEnv keeps the helper libraries on loopback: TWILIO_EDGE and
// TWILIO_REGION rewrite their host names, and a proxy would take the
// traffic elsewhere.
func libraryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "TWILIO_EDGE", "TWILIO_REGION", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}
