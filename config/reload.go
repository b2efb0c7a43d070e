package config

import (
	"reflect"
	"strings"
)

// Each setting declares, beside its other tags, whether a reload (SIGHUP)
// applies it: `reload:"live"` or `reload:"restart"`. The declaration is the
// one place that says so; RestartOnlyChanges reads it, and a test keeps
// every setting declared.
const (
	ReloadLive    = "live"
	ReloadRestart = "restart"
)

// RestartOnlyChanges lists, by YAML path, the settings that differ between
// old and next and that a reload does not apply, so the operator is told
// rather than left to believe they took effect.
func RestartOnlyChanges(old, next *Config) []string {
	var out []string
	walkSettings(reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem(), "", func(path, class string, a, b reflect.Value) {
		if class != ReloadLive && !reflect.DeepEqual(a.Interface(), b.Interface()) {
			out = append(out, path)
		}
	})
	return out
}

// Settings lists every setting's YAML path with its reload class ("" when
// the field declares none).
func Settings() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(Config{})
	walkSettings(v, v, "", func(path, class string, _, _ reflect.Value) { out[path] = class })
	return out
}

// walkSettings calls fn for each leaf setting of a and b (two values of the
// same struct type): a field with an env tag; sections are walked into.
func walkSettings(a, b reflect.Value, prefix string, fn func(path, class string, a, b reflect.Value)) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if _, leaf := f.Tag.Lookup("env"); !leaf && f.Type.Kind() == reflect.Struct {
			walkSettings(a.Field(i), b.Field(i), path, fn)
			continue
		}
		fn(path, f.Tag.Get("reload"), a.Field(i), b.Field(i))
	}
}
