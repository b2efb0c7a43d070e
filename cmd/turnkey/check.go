package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/turnkey-dev/turnkey/turncheck"
)

const checkUsage = `usage: turnkey check [flags] [URL ...]

Tests STUN/TURN URLs as a client would: reaches the server, allocates, relays a
datagram through the relay and back, and prints per URL the result, the round
trip and the first problem in plain words. Exit status 0 only if every URL passes.

  turnkey check turn:turn.example.com:3478?transport=udp turns:turn.example.com:5349
  turnkey check -secret "$SECRET" turn:203.0.113.10:3478?transport=tcp
  turnkey check -username U -password P turn:turn.example.com
  turnkey check -api https://turn.example.com -sid AC... -token ...   # every URL Tokens.json returns

Credentials: -username/-password as given; -api/-sid/-token fetches them from
Tokens.json; otherwise TURN REST credentials are minted with the first TURN
secret: -secret (or turn.secrets) if given, else the one generated in data_dir.
`

// runCheck wires flags to turncheck.
func runCheck(args []string, stdout, stderr io.Writer) int {
	return subcommand{name: "check", needs: needConfig, json: true, flags: checkFlags}.run("turnkey", args, stdout, stderr)
}

func checkFlags(fs *flag.FlagSet) func(x *invocation) int {
	fs.Usage = func() { fmt.Fprint(fs.Output(), checkUsage); fs.PrintDefaults() }
	username := fs.String("username", "", "TURN username to use as is (with -password)")
	password := fs.String("password", "", "TURN password for -username")
	user := fs.String("user", "turnkey-check", "user part of minted credentials")
	api := fs.String("api", "", "base URL of a turnkey (or Twilio) API to fetch Tokens.json from")
	sid := fs.String("sid", "", "account SID (or API key SID) for -api")
	token := fs.String("token", os.Getenv("TURNKEY_CHECK_TOKEN"), "auth token (or key secret) for -api; default $TURNKEY_CHECK_TOKEN")
	account := fs.String("account", "", "account SID for -api when -sid is an API key")
	timeout := fs.Duration("timeout", 5*time.Second, "time allowed for each step")
	caFile := fs.String("ca", "", "PEM file of CA certificates to trust for turns: (default: the system's)")
	serverName := fs.String("servername", "", "TLS server name for turns: (default: the URL's host)")
	return func(x *invocation) int {
		if (*username == "") != (*password == "") {
			return x.refuse("-username and -password go together")
		}
		var creds turncheck.Credentials
		urls := x.args
		switch {
		case *username != "":
			creds = turncheck.Credentials{Username: *username, Password: *password}
		case *api != "":
			if *sid == "" || *token == "" {
				return x.refuse("-api needs -sid and -token")
			}
			servers, err := fetchICEServers(*api, *sid, *token, *account, *timeout)
			if err != nil {
				return x.fail(err)
			}
			if len(urls) == 0 {
				for _, s := range servers {
					urls = append(urls, s.URLs...)
				}
			}
			for _, s := range servers {
				if s.Username != "" {
					creds = turncheck.Credentials{Username: s.Username, Password: s.Credential}
					break
				}
			}
		default:
			ring, err := turnKeyring(&x.cfg.Config, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return x.fail(err)
			}
			secret := ring.Primary()
			creds.Mint = func(ttl time.Duration) (string, string) {
				return secret.Mint(time.Now().Add(ttl), *user)
			}
		}
		if len(urls) == 0 {
			return x.refuse("name at least one URL (or use -api); -h for help")
		}
		targets := make([]turncheck.Target, 0, len(urls))
		for _, u := range urls {
			t, err := turncheck.ParseURL(u)
			if err != nil {
				return x.refuse("%v", err)
			}
			targets = append(targets, t)
		}
		opts := turncheck.Options{Timeout: *timeout}
		if creds.Mint != nil {
			// Minted credentials are for this configuration's realm.
			opts.Realm = x.cfg.TURN.Realm
		}
		if *caFile != "" || *serverName != "" {
			opts.TLS = &tls.Config{ServerName: *serverName}
			if *caFile != "" {
				pem, err := os.ReadFile(*caFile)
				if err != nil {
					return x.refuse("-ca: %v", err)
				}
				opts.TLS.RootCAs = x509.NewCertPool()
				if !opts.TLS.RootCAs.AppendCertsFromPEM(pem) {
					return x.refuse("-ca %s: no PEM certificates in it", *caFile)
				}
			}
		}
		results := make([]turncheck.Result, 0, len(targets))
		for _, t := range targets {
			results = append(results, turncheck.Check(context.Background(), t, creds, opts))
		}
		if code := x.output(checkResultsJSON(results), func() int { printCheckResults(x.stdout, results); return 0 }); code != 0 {
			return code
		}
		for _, r := range results {
			if !r.OK {
				return 1
			}
		}
		return 0
	}
}

// checkResultJSON is one URL's result as printed with -json.
type checkResultJSON struct {
	URL       string   `json:"url"`
	Transport string   `json:"transport"`
	OK        bool     `json:"ok"`
	RTTMillis float64  `json:"rtt_ms,omitempty"`
	Mapped    string   `json:"mapped,omitempty"`
	Relayed   string   `json:"relayed,omitempty"`
	Problem   string   `json:"problem,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Step      string   `json:"step,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

func checkResultsJSON(results []turncheck.Result) map[string]any {
	out := make([]checkResultJSON, 0, len(results))
	for _, r := range results {
		j := checkResultJSON{URL: r.Target.String(), Transport: r.Target.Label(), OK: r.OK, Mapped: r.Mapped,
			Relayed: r.Relayed, Warnings: r.Warnings}
		if r.OK {
			j.RTTMillis = float64(r.RTT.Microseconds()) / 1000
		} else {
			j.Problem, j.Kind, j.Step = r.Problem.Error(), string(r.Problem.Kind), r.Problem.Step
		}
		out = append(out, j)
	}
	return map[string]any{"results": out}
}

func printCheckResults(w io.Writer, results []turncheck.Result) {
	for _, r := range results {
		if r.OK {
			extra := ""
			if r.Relayed != "" {
				extra = ", relayed via " + r.Relayed
			}
			fmt.Fprintf(w, "PASS %-4s %s  rtt %s%s\n", r.Target.Label(), r.Target, r.RTT.Round(10*time.Microsecond), extra)
		} else {
			fmt.Fprintf(w, "FAIL %-4s %s  %s: %s\n", r.Target.Label(), r.Target, r.Problem.Step, r.Problem.Error())
		}
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "     warning: %s\n", warn)
		}
	}
}

// checkICEServer is one entry of Tokens.json's ice_servers.
type checkICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// fetchICEServers asks a Tokens.json endpoint for ICE servers, as Twilio's
// helper libraries do.
func fetchICEServers(api, sid, token, account string, timeout time.Duration) ([]checkICEServer, error) {
	if account == "" {
		account = sid
	}
	endpoint := strings.TrimRight(api, "/") + "/2010-04-01/Accounts/" + url.PathEscape(account) + "/Tokens.json"
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("Ttl=600"))
	if err != nil {
		return nil, fmt.Errorf("-api %s: %w", api, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(sid, token)
	res, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching Tokens.json: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, fmt.Errorf("tokens.json answered %s: %s", res.Status, e.Message)
	}
	var tok struct {
		ICEServers []struct {
			URLs       any    `json:"urls"`
			URL        string `json:"url"`
			Username   string `json:"username"`
			Credential string `json:"credential"`
		} `json:"ice_servers"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return nil, fmt.Errorf("decoding tokens.json: %w", err)
	}
	out := make([]checkICEServer, 0, len(tok.ICEServers))
	for _, s := range tok.ICEServers {
		e := checkICEServer{Username: s.Username, Credential: s.Credential}
		switch u := s.URLs.(type) {
		case string:
			e.URLs = []string{u}
		case []any:
			for _, v := range u {
				if str, ok := v.(string); ok {
					e.URLs = append(e.URLs, str)
				}
			}
		}
		if len(e.URLs) == 0 && s.URL != "" {
			e.URLs = []string{s.URL}
		}
		out = append(out, e)
	}
	return out, nil
}
