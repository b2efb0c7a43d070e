package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "30s" or "24h" in YAML, env and flags.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Set parses s; a bare number is taken as seconds.
func (d *Duration) Set(s string) error {
	s = strings.TrimSpace(s)
	if v, err := time.ParseDuration(s); err == nil {
		*d = Duration(v)
		return nil
	}
	var secs int64
	if _, err := fmt.Sscanf(s, "%d", &secs); err == nil && fmt.Sprint(secs) == s {
		*d = Duration(time.Duration(secs) * time.Second)
		return nil
	}
	return fmt.Errorf("%q is not a duration (examples: 30s, 5m, 24h)", s)
}

// UnmarshalYAML accepts "30s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	return d.Set(n.Value)
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a string that never prints: String, YAML and logs show it redacted.
type Secret string

// Reveal returns the secret itself, for the code that must use it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps secrets out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML redacts, so `config print` cannot leak.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// AddrList is a list of IP addresses: a YAML sequence or, for
// compatibility with single-address settings, one scalar; comma separated
// in env and flags, and a repeated flag appends.
type AddrList []string

// UnmarshalYAML accepts a sequence or a single scalar (split on commas).
func (l *AddrList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = AddrList(splitList(n.Value))
		return nil
	case yaml.SequenceNode:
		var out []string
		if err := n.Decode(&out); err != nil {
			return err
		}
		*l = AddrList(out)
		return nil
	}
	return fmt.Errorf("line %d: want an address or a list of addresses", n.Line)
}
