package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// startPrometheus runs a real Prometheus server on loopback scraping target
// ("host:port") every second, and returns its base URL. It is killed when
// the test ends.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := requireTool(t, "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: turnkey
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	// Start's cleanup reaps the process before TempDir removes its storage.
	prom := testenv.Start(t, "prometheus", exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen,
	))
	base := "http://" + listen
	err := testenv.EventuallyErr(30*time.Second, func() error {
		res, err := http.Get(base + "/-/ready") //nolint:noctx // loopback, bounded by EventuallyErr
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", res.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("prometheus not ready on %s within 30s: %v\n%s", listen, err, prom.Out.String())
	}
	return base
}

// promQuery runs an instant query and returns the value of each series, by
// its rendered label set.
func promQuery(t *testing.T, base, query string) (map[string]float64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %s: decoding: %w", query, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", query, body.Error)
	}
	out := map[string]float64{}
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %q: %w", query, s, err)
		}
		out[fmt.Sprint(r.Metric)] = v
	}
	return out, nil
}

// TestPrometheusScrapesLiveRelayMetrics: a real Prometheus server scraping
// the admin listener sees the allocation (allocations_active goes to 1) and
// relayed bytes rise, read back through its query API.
func TestPrometheusScrapesLiveRelayMetrics(t *testing.T) {
	requireTool(t, "prometheus") // before starting anything
	n := startTestNode(t, nil)
	prom := startPrometheus(t, n.adminAddr.String())

	peer := newCountingEcho(t)
	tok, err := twilioClient(t, n.API, n.AccountSID, n.AuthToken, "").Api.CreateToken(&openapi.CreateTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	s := turnServers(tok)[0]
	relayed := turnAllocation(t, "udp", n.TURNUDP, s.username, s.credential) // held for the whole test
	sent, _ := echoSizes(t, relayed, peer.addr, []int{200, 400, 800})

	queries := []struct {
		query string
		done  func(v float64) bool
		want  string
	}{
		{`sum(turnkey_allocations_active{job="turnkey"})`, func(v float64) bool { return v == 1 }, "1"},
		{`sum(turnkey_relay_bytes_total{job="turnkey"})`, func(v float64) bool { return v >= float64(2*sent) }, fmt.Sprintf(">= %d", 2*sent)},
		{`up{job="turnkey"}`, func(v float64) bool { return v == 1 }, "1"},
	}
	// The first scrape comes a few seconds after start; poll with a
	// deadline rather than guess.
	deadline := time.Now().Add(40 * time.Second)
	for _, q := range queries {
		testenv.WaitForErr(t, q.query+" "+q.want, time.Until(deadline), func() error {
			got, err := promQuery(t, prom, q.query)
			if err != nil {
				return err
			}
			for _, v := range got {
				if len(got) == 1 && q.done(v) {
					return nil
				}
			}
			return fmt.Errorf("got %v", got)
		})
	}
	// Prometheus scraped what the node's own /metrics says.
	if got := scrape(t, n).get("turnkey_relay_bytes_total"); got < float64(2*sent) {
		t.Errorf("node reports %v relayed bytes, want at least %d", got, 2*sent)
	}
}
