// Package deploy holds turnkey's deployment artifacts (container image,
// compose, Helm chart, systemd unit, Prometheus rules, Grafana dashboard).
// Its tests check them with the real tools where available: promtool (Debian
// package prometheus) and helm (built from the Go module proxy). Missing tools
// skip those checks, except with CI=true, where they fail: CI runs
// deploy/install-tools.sh first.
package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/turnkey-dev/turnkey/config"
	"github.com/turnkey-dev/turnkey/internal/testenv"
)

// knownMetrics are the metric families turnkey exports.
var knownMetrics = []string{
	"turnkey_allocations_active",
	"turnkey_allocations_total",
	"turnkey_allocation_failures_total",
	"turnkey_relay_bytes_total",
	"turnkey_relay_packets_total",
	"turnkey_stun_binding_requests_total",
	"turnkey_auth_failures_total",
	"turnkey_peer_denied_total",
	"turnkey_quota_rejections_total",
	"turnkey_tokens_issued_total",
	"turnkey_http_requests_total",
	"turnkey_http_request_duration_seconds",
	"turnkey_account_relay_bytes_total",
	"turnkey_relay_ports_in_use",
	"turnkey_relay_port_range_size",
	"turnkey_listener_up",
	"turnkey_build_info",
}

// metricAllowed accepts turnkey's families (histogram series included), the
// Go runtime and process collectors, and Prometheus' own `up`.
func metricAllowed(name string, allowUp bool) bool {
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return true
	}
	if allowUp && name == "up" {
		return true
	}
	if slices.Contains(knownMetrics, name) {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && base == "turnkey_http_request_duration_seconds" {
			return true
		}
	}
	return false
}

var (
	reString       = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	reMatchers     = regexp.MustCompile(`\{[^{}]*\}`)
	reRange        = regexp.MustCompile(`\[[^\[\]]*\]`)
	reGrouping     = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	reIdent        = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless", "inf", "nan"}
)

// metricNames returns the metric names a PromQL expression selects. It is a
// lexical approximation good enough for our own expressions: strings, label
// matchers, ranges and grouping clauses are removed, function calls skipped.
func metricNames(expr string) []string {
	s := reString.ReplaceAllString(expr, `""`)
	s = reMatchers.ReplaceAllString(s, " ")
	s = reRange.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // a unit such as 5m or 1e3
		}
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || slices.Contains(promqlKeywords, strings.ToLower(id)) {
			continue
		}
		if strings.HasPrefix(id, "$") {
			continue
		}
		out = append(out, id)
	}
	return out
}

func TestMetricNamesExtractor(t *testing.T) {
	got := metricNames(`histogram_quantile(0.99, sum by (route, le) (rate(turnkey_http_request_duration_seconds_bucket{job=~"$job",route=~"(?i).*(token|ice).*"}[5m]))) > 0.5 and on (instance) up == 1`)
	want := []string{"turnkey_http_request_duration_seconds_bucket", "up"}
	if !slices.Equal(got, want) {
		t.Fatalf("metricNames = %v, want %v", got, want)
	}
}

// tool finds an external command on PATH or in $(go env GOPATH)/bin. When it
// is missing the test is skipped, or failed under CI=true.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	testenv.Require(t, "%s not found on PATH or in $(go env GOPATH)/bin; run `bash deploy/install-tools.sh`", name)
	return ""
}

func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	t.Logf("$ %s %s\n%s", filepath.Base(name), strings.Join(args, " "), strings.TrimSpace(out.String()))
	return out.String(), err
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// checkTurnkeyConfig loads a turnkey YAML file exactly as `turnkey serve`
// does (unknown keys are errors), with extra flags and environment, and
// validates it.
func checkTurnkeyConfig(t *testing.T, path string, args []string, env []string) *config.Loaded {
	t.Helper()
	t.Setenv("TURNKEY_CONFIG", "")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	b := config.RegisterFlags(fs)
	if err := fs.Parse(append([]string{"-config", path}, args...)); err != nil {
		t.Fatalf("%s: flags: %v", path, err)
	}
	l, err := config.Load(b, env)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := l.Validate(); err != nil {
		t.Fatalf("%s: invalid configuration:\n%v", path, err)
	}
	return l
}

// ---- Prometheus ------------------------------------------------------------

func TestPrometheusRulesUseKnownMetrics(t *testing.T) {
	var doc struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				Annotations map[string]string
			}
		}
	}
	readYAML(t, "prometheus/turnkey-rules.yaml", &doc)
	var alerts []string
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			for _, m := range metricNames(r.Expr) {
				if !metricAllowed(m, true) {
					t.Errorf("rule %s: unknown metric %q in %s", r.Alert, m, r.Expr)
				}
			}
			for _, k := range []string{"summary", "description", "runbook"} {
				if r.Annotations[k] == "" {
					t.Errorf("rule %s: missing annotation %q", r.Alert, k)
				}
			}
		}
	}
	for _, want := range []string{"TurnkeyTargetDown", "TurnkeyListenerDown", "TurnkeyRelayPortsNearlyExhausted",
		"TurnkeyAllocationFailures", "TurnkeyAuthFailureSpike", "TurnkeyHTTP5xxRatioHigh", "TurnkeyTokenLatencyHigh"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s missing", want)
		}
	}
	// The Helm chart ships a copy for its PrometheusRule.
	a, _ := os.ReadFile("prometheus/turnkey-rules.yaml")
	b, _ := os.ReadFile("helm/turnkey/files/turnkey-rules.yaml")
	if !bytes.Equal(a, b) {
		t.Error("helm/turnkey/files/turnkey-rules.yaml differs from prometheus/turnkey-rules.yaml: cp prometheus/turnkey-rules.yaml helm/turnkey/files/")
	}
}

func TestPromtool(t *testing.T) {
	promtool := tool(t, "promtool")
	if out, err := run(t, ".", promtool, "check", "rules", "prometheus/turnkey-rules.yaml"); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// Both Prometheus configs load the rules file from their own directory.
	for _, cfg := range []string{"prometheus/prometheus.yml", "compose/prometheus/prometheus.yml"} {
		dir := t.TempDir()
		for src, dst := range map[string]string{cfg: "prometheus.yml", "prometheus/turnkey-rules.yaml": "turnkey-rules.yaml"} {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, dst), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := run(t, dir, promtool, "check", "config", "prometheus.yml"); err != nil {
			t.Errorf("promtool check config %s: %v\n%s", cfg, err, out)
		}
	}
}

// ---- Helm ------------------------------------------------------------------

const chartDir = "helm/turnkey"

// kubeVersion pins .Capabilities.KubeVersion: a helm built with plain
// `go install` (no Makefile ldflags) would otherwise claim Kubernetes v1.20.
const kubeVersion = "1.31.0"

type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec map[string]any    `yaml:"spec"`
}

func helmTemplate(t *testing.T, helm string, args ...string) ([]manifest, string, error) {
	t.Helper()
	full := append([]string{"template", "tk", chartDir, "--namespace", "turn", "--kube-version", kubeVersion}, args...)
	cmd := exec.Command(helm, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return nil, stderr.String(), err
	}
	var docs []manifest
	dec := yaml.NewDecoder(&stdout)
	for {
		var m manifest
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("helm template output does not parse: %v", err)
		}
		if m.Kind != "" {
			docs = append(docs, m)
		}
	}
	t.Logf("$ helm %s -> %d objects", strings.Join(full, " "), len(docs))
	return docs, stderr.String(), nil
}

func find(docs []manifest, kind, suffix string) *manifest {
	for i := range docs {
		if docs[i].Kind == kind && strings.HasSuffix(docs[i].Metadata.Name, suffix) {
			return &docs[i]
		}
	}
	return nil
}

// dig walks maps and lists: dig(x, "template", "spec", "containers", 0, "args").
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestHelmChart(t *testing.T) {
	helm := tool(t, "helm")
	out, _ := run(t, ".", helm, "version", "--short")
	t.Logf("helm %s", strings.TrimSpace(out))

	for _, args := range [][]string{nil, {"-f", chartDir + "/ci/multinode-values.yaml"}} {
		lint := append([]string{"lint", chartDir, "--strict", "--kube-version", kubeVersion}, args...)
		if out, err := run(t, ".", helm, lint...); err != nil {
			t.Errorf("helm lint %v: %v\n%s", args, err, out)
		}
	}

	type want struct {
		name  string
		args  []string
		kinds []string
		env   []string // environment the pods get from the Secret
	}
	cases := []want{
		{name: "default", kinds: []string{"ConfigMap", "Secret", "ServiceAccount", "DaemonSet", "Deployment", "Service", "PodDisruptionBudget", "PersistentVolumeClaim"},
			env: []string{"TURNKEY_SECRETS=generated-secret-0123456789"}},
		{name: "multinode", args: []string{"-f", chartDir + "/ci/multinode-values.yaml"},
			kinds: []string{"ConfigMap", "Secret", "DaemonSet", "Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"},
			env: []string{
				"TURNKEY_SECRETS=0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210",
				"TURNKEY_STORE_DSN=postgres://turnkey:example@postgres.db.svc:5432/turnkey?sslmode=require",
				"TURNKEY_STORE_ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			docs, stderr, err := helmTemplate(t, helm, c.args...)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, stderr)
			}
			for _, k := range c.kinds {
				if find(docs, k, "") == nil {
					t.Errorf("no %s rendered", k)
				}
			}
			ds := find(docs, "DaemonSet", "-relay")
			if ds == nil {
				t.Fatal("relay DaemonSet missing")
			}
			pod := dig(ds.Spec, "template", "spec")
			if dig(pod, "hostNetwork") != true {
				t.Error("relay DaemonSet must use hostNetwork")
			}
			if got := dig(pod, "containers", 0, "args"); !equalArgs(got, "serve", "--role", "relay") {
				t.Errorf("relay args = %v", got)
			}
			dep := find(docs, "Deployment", "-api")
			if dep == nil {
				t.Fatal("API Deployment missing")
			}
			if got := dig(dep.Spec, "template", "spec", "containers", 0, "args"); !equalArgs(got, "serve", "--role", "api") {
				t.Errorf("api args = %v", got)
			}
			for _, w := range []*manifest{ds, dep} {
				c0 := dig(w.Spec, "template", "spec", "containers", 0)
				if dig(c0, "livenessProbe", "httpGet", "path") != "/healthz" || dig(c0, "readinessProbe", "httpGet", "path") != "/readyz" {
					t.Errorf("%s: probes must be /healthz (liveness) and /readyz (readiness)", w.Metadata.Name)
				}
				sc := dig(c0, "securityContext")
				if dig(sc, "readOnlyRootFilesystem") != true || !equalArgs(dig(sc, "capabilities", "drop"), "ALL") ||
					!equalArgs(dig(sc, "capabilities", "add"), "NET_BIND_SERVICE") {
					t.Errorf("%s: securityContext = %v", w.Metadata.Name, sc)
				}
				if dig(w.Spec, "template", "spec", "securityContext", "runAsNonRoot") != true {
					t.Errorf("%s: pod must run as non-root", w.Metadata.Name)
				}
			}
			// The ConfigMap must be a configuration turnkey accepts.
			cm := find(docs, "ConfigMap", "")
			path := filepath.Join(t.TempDir(), "turnkey.yaml")
			if err := os.WriteFile(path, []byte(cm.Data["turnkey.yaml"]), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, role := range []string{"relay", "api"} {
				env := append([]string{"TURNKEY_ADMIN_LISTEN=0.0.0.0:9641"}, c.env...)
				if role == "relay" {
					env = append(env, "TURNKEY_RELAY_IP=10.0.0.5")
				}
				l := checkTurnkeyConfig(t, path, []string{"-role", role}, env)
				if l.DataDir != "/var/lib/turnkey" {
					t.Errorf("data_dir = %q", l.DataDir)
				}
			}
		})
	}

	t.Run("replicas-without-dsn-fails", func(t *testing.T) {
		_, stderr, err := helmTemplate(t, helm, "--set", "api.replicas=2")
		if err == nil {
			t.Fatal("api.replicas=2 without secrets.storeDSN rendered; want a failure")
		}
		t.Logf("helm template --set api.replicas=2: %s", strings.TrimSpace(stderr))
		if !strings.Contains(stderr, "secrets.storeDSN") {
			t.Errorf("error does not name secrets.storeDSN: %s", stderr)
		}
	})
	t.Run("schema-rejects-unknown-config-key", func(t *testing.T) {
		_, stderr, err := helmTemplate(t, helm, "--set", "config.turn.no_such_key=1")
		if err == nil {
			t.Fatal("config.turn.no_such_key rendered; want a schema failure")
		}
		t.Logf("helm template --set config.turn.no_such_key=1: %s", strings.TrimSpace(stderr))
	})
}

func equalArgs(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i := range l {
		if l[i] != want[i] {
			return false
		}
	}
	return true
}

// ---- Grafana ---------------------------------------------------------------

func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/turnkey-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	}
	type panel struct {
		Title      string         `json:"title"`
		Type       string         `json:"type"`
		Datasource map[string]any `json:"datasource"`
		Targets    []target       `json:"targets"`
		Panels     []panel        `json:"panels"`
	}
	var dash struct {
		SchemaVersion int     `json:"schemaVersion"`
		UID           string  `json:"uid"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d < 36", dash.SchemaVersion)
	}
	hasDS := false
	for _, v := range dash.Templating.List {
		if v.Name == "DS_PROMETHEUS" && v.Type == "datasource" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("no datasource variable DS_PROMETHEUS")
	}
	used := map[string]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no queries", p.Title)
			}
			if p.Datasource["uid"] != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q datasource = %v, want uid ${DS_PROMETHEUS}", p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				names := metricNames(tg.Expr)
				if len(names) == 0 {
					t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
				}
				for _, m := range names {
					used[m] = true
					if !metricAllowed(m, false) {
						t.Errorf("panel %q: unknown metric %q in %s", p.Title, m, tg.Expr)
					}
				}
			}
		}
	}
	walk(dash.Panels)
	for _, m := range []string{"turnkey_allocations_active", "turnkey_allocations_total", "turnkey_allocation_failures_total",
		"turnkey_relay_bytes_total", "turnkey_relay_packets_total", "turnkey_auth_failures_total", "turnkey_tokens_issued_total",
		"turnkey_http_requests_total", "turnkey_http_request_duration_seconds_bucket", "turnkey_peer_denied_total",
		"turnkey_quota_rejections_total", "turnkey_relay_ports_in_use"} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// ---- systemd ---------------------------------------------------------------

func parseUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, i+1, line)
			}
			unit[section][strings.TrimSpace(k)] = append(unit[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return unit
}

func TestSystemdUnit(t *testing.T) {
	unit := parseUnit(t, "systemd/turnkey.service")
	svc := unit["Service"]
	for k, v := range map[string]string{
		"StateDirectory":          "turnkey",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		"LimitNOFILE":             "1048576",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"KillSignal":              "SIGTERM",
		"DynamicUser":             "yes",
	} {
		if !slices.Contains(svc[k], v) {
			t.Errorf("[Service] %s = %v, want %q", k, svc[k], v)
		}
	}
	if !slices.Contains(svc["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter = %v", svc["SystemCallFilter"])
	}
	if unit["Install"]["WantedBy"] == nil {
		t.Error("[Install] WantedBy missing")
	}
	// TimeoutStopSec must exceed the drain timeout of the example config.
	l := checkTurnkeyConfig(t, "systemd/turnkey.yaml", nil, []string{"TURNKEY_SECRETS=example-secret-0123456789"})
	stop := svc["TimeoutStopSec"]
	if len(stop) != 1 {
		t.Fatalf("TimeoutStopSec = %v", stop)
	}
	var secs int
	if _, err := fmtSscanSeconds(stop[0], &secs); err != nil || float64(secs) <= l.DrainTimeout.D().Seconds() {
		t.Errorf("TimeoutStopSec %s must exceed drain_timeout %s", stop[0], l.DrainTimeout)
	}

	sa := testenv.Program(t, "systemd-analyze", "Debian's systemd package")
	// verify insists that ExecStart exists; point it at a stand-in binary.
	dir := t.TempDir()
	bin := filepath.Join(dir, "turnkey")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("systemd/turnkey.service")
	unitPath := filepath.Join(dir, "turnkey.service")
	if err := os.WriteFile(unitPath, bytes.ReplaceAll(src, []byte("/usr/local/bin/turnkey"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, sa, "verify", unitPath); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: err=%v\n%s", err, out)
	}
}

// fmtSscanSeconds parses "45", "45s" or "2min".
func fmtSscanSeconds(s string, secs *int) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "min"):
		s, mult = strings.TrimSuffix(s, "min"), 60
	case strings.HasSuffix(s, "s"):
		s = strings.TrimSuffix(s, "s")
	}
	var n int
	_, err := fmt.Sscan(s, &n)
	*secs = n * mult
	return 1, err
}

// ---- compose ---------------------------------------------------------------

func TestCompose(t *testing.T) {
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			NetworkMode string            `yaml:"network_mode"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Command     []string          `yaml:"command"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	readYAML(t, "compose/compose.yaml", &doc)
	for _, s := range []string{"turnkey", "prometheus", "grafana"} {
		if _, ok := doc.Services[s]; !ok {
			t.Errorf("service %s missing", s)
		}
	}
	tk := doc.Services["turnkey"]
	if tk.NetworkMode != "host" {
		t.Errorf("turnkey network_mode = %q, want host", tk.NetworkMode)
	}
	if tk.Environment["TURNKEY_ADMIN_LISTEN"] == "" {
		t.Error("turnkey: TURNKEY_ADMIN_LISTEN not set")
	}
	// Every bind-mounted file exists, relative to the compose file.
	for name, s := range doc.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				if _, ok := doc.Volumes[src]; !ok {
					t.Errorf("%s: volume %q is neither a path nor declared", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
				t.Errorf("%s: bind mount source %s: %v", name, src, err)
			}
		}
	}
	// The mounted turnkey configuration loads with the compose environment.
	var env []string
	for k, v := range tk.Environment {
		env = append(env, k+"="+v)
	}
	env = append(env, "TURNKEY_SECRETS=compose-secret-0123456789")
	checkTurnkeyConfig(t, "compose/turnkey.yaml", nil, env)

	var ds struct {
		Datasources []struct{ UID, Type, URL string } `yaml:"datasources"`
	}
	readYAML(t, "compose/grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Errorf("grafana datasource provisioning: %+v", ds)
	}
}

// ---- Dockerfile ------------------------------------------------------------

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		"FROM golang:${GO_VERSION}-bookworm AS build",
		"ARG GO_VERSION=1.26",
		`CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}"`,
		"./cmd/turnkey",
		"setcap cap_net_bind_service=+ep",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		"--chown=65532:65532",
		`VOLUME ["/var/lib/turnkey"]`,
		"EXPOSE 3478/udp 3478/tcp 443/tcp 5349/tcp 8080/tcp 9641/tcp",
		`ENTRYPOINT ["/turnkey"]`,
		`CMD ["serve"]`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// main.version must exist for -X to take effect.
	src, err := os.ReadFile("../cmd/turnkey/main.go")
	if err == nil && !regexp.MustCompile(`(?m)^var version = `).Match(src) {
		t.Error("cmd/turnkey/main.go has no `var version`; -X main.version would be a no-op")
	}
}

// yamlPaths lists the dotted YAML paths of config.Config's leaves.
func yamlPaths(t reflect.Type, prefix string, into map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		into[path] = true
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("env") == "" {
			yamlPaths(f.Type, path, into)
		}
	}
}

// TestHelmSchemaMatchesConfig keeps values.schema.json's config section to
// keys turnkey knows (the schema then rejects typos at `helm install`).
func TestHelmSchemaMatchesConfig(t *testing.T) {
	known := map[string]bool{}
	yamlPaths(reflect.TypeOf(config.Config{}), "", known)
	data, err := os.ReadFile(chartDir + "/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	properties := func(_ string, node any) map[string]any {
		props, _ := dig(node, "properties").(map[string]any)
		return props
	}
	checkKnownKeys(t, "values.schema.json", known, properties("", dig(schema, "properties", "config")), "", properties)
	// And values.yaml's config renders only known keys.
	var values map[string]any
	readYAML(t, chartDir+"/values.yaml", &values)
	cfg, _ := values["config"].(map[string]any)
	checkKnownKeys(t, "values.yaml", known, cfg, "", func(path string, v any) map[string]any {
		if path == "api.regions" {
			return nil
		}
		sub, _ := v.(map[string]any)
		return sub
	})
}

// checkKnownKeys fails the test for each key of m, below prefix, that known
// lacks, and goes on into what below (the key's path and value) returns.
func checkKnownKeys(t *testing.T, file string, known map[string]bool, m map[string]any, prefix string, below func(path string, v any) map[string]any) {
	t.Helper()
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if !known[path] {
			t.Errorf("%s config.%s: turnkey has no such key", file, path)
		}
		if sub := below(path, v); sub != nil {
			checkKnownKeys(t, file, known, sub, path, below)
		}
	}
}
