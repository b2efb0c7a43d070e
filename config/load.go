package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable turnkey reads.
const EnvPrefix = "TURNKEY_"

// Loaded is a configuration together with where it came from.
type Loaded struct {
	Config
	// File is the configuration file read, if any.
	File string
	// explicit holds the YAML paths (e.g. "turn.alt_tcp_port") that a file,
	// the environment or a flag set, as opposed to defaults.
	explicit map[string]bool
}

// IsSet reports whether the field at the YAML path was configured explicitly.
func (l *Loaded) IsSet(path string) bool { return l.explicit[path] }

// field is one settable leaf of Config.
type field struct {
	path  string // YAML path, dotted
	env   string
	flag  string
	help  string
	value reflect.Value
}

func fields(c *Config) []field {
	var out []field
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name := strings.Split(sf.Tag.Get("yaml"), ",")[0]
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			fv := v.Field(i)
			if sf.Type.Kind() == reflect.Struct && sf.Tag.Get("env") == "" {
				walk(fv, path)
				continue
			}
			out = append(out, field{
				path:  path,
				env:   sf.Tag.Get("env"),
				flag:  sf.Tag.Get("flag"),
				help:  sf.Tag.Get("help"),
				value: fv,
			})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// setText parses s into a leaf value. Lists and maps are comma separated;
// maps as key=value.
func setText(v reflect.Value, s string) error {
	switch p := v.Addr().Interface().(type) {
	case *Duration:
		return p.Set(s)
	case *Secret:
		*p = Secret(s)
		return nil
	case *[]Secret:
		*p = nil
		for _, part := range splitList(s) {
			*p = append(*p, Secret(part))
		}
		return nil
	case *[]string:
		*p = splitList(s)
		return nil
	case *AddrList:
		*p = AddrList(splitList(s))
		return nil
	case *map[string]string:
		m := map[string]string{}
		for _, part := range splitList(s) {
			k, val, ok := strings.Cut(part, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return fmt.Errorf("%q is not key=value", part)
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		*p = m
		return nil
	case *string:
		*p = s
		return nil
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*p = b
		return nil
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*p = n
		return nil
	case *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*p = n
		return nil
	}
	return fmt.Errorf("unsupported field type %s", v.Type())
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// flagValue adapts a config leaf to flag.Value; repeated list flags append.
type flagValue struct {
	f       field
	seen    bool
	touched map[string]bool
}

func (fv *flagValue) String() string {
	if fv == nil || !fv.f.value.IsValid() {
		return ""
	}
	return fmt.Sprint(fv.f.value.Interface())
}

func (fv *flagValue) Set(s string) error {
	fv.touched[fv.f.path] = true
	switch fv.f.value.Kind() {
	case reflect.Slice, reflect.Map:
		if fv.seen {
			// Repeated flag: append to what the earlier occurrences set.
			old := fv.f.value.Interface()
			if err := setText(fv.f.value, s); err != nil {
				return err
			}
			switch o := old.(type) {
			case []string:
				fv.f.value.Set(reflect.ValueOf(append(o, fv.f.value.Interface().([]string)...)))
			case []Secret:
				fv.f.value.Set(reflect.ValueOf(append(o, fv.f.value.Interface().([]Secret)...)))
			case AddrList:
				fv.f.value.Set(reflect.ValueOf(append(o, fv.f.value.Interface().(AddrList)...)))
			case map[string]string:
				for k, v := range fv.f.value.Interface().(map[string]string) {
					o[k] = v
				}
				fv.f.value.Set(reflect.ValueOf(o))
			}
			return nil
		}
		fv.seen = true
	}
	return setText(fv.f.value, s)
}

func (fv *flagValue) IsBoolFlag() bool { return fv.f.value.Kind() == reflect.Bool }

// Flags registers every configuration flag on fs, plus -config. Parse fs,
// then call Load with the returned binder.
type Flags struct {
	cfg     Config
	file    string
	touched map[string]bool
}

// RegisterFlags adds -config and one flag per configuration field to fs.
// The flags write into a scratch Config that Load layers on top.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	b := &Flags{cfg: Config{}, touched: map[string]bool{}}
	fs.StringVar(&b.file, "config", os.Getenv(EnvPrefix+"CONFIG"), "YAML configuration file (env "+EnvPrefix+"CONFIG)")
	for _, f := range fields(&b.cfg) {
		if f.flag == "" {
			continue
		}
		fs.Var(&flagValue{f: f, touched: b.touched}, f.flag, f.help+" (env "+EnvPrefix+f.env+")")
	}
	return b
}

// Load builds the effective configuration: defaults, then the file named by
// -config or TURNKEY_CONFIG, then TURNKEY_* variables, then flags. It does not
// validate; call Validate.
func Load(flags *Flags, environ []string) (*Loaded, error) {
	l := &Loaded{Config: Default(), explicit: map[string]bool{}}
	file := ""
	if flags != nil {
		file = flags.file
	}
	if file != "" {
		if err := l.loadFile(file); err != nil {
			return nil, err
		}
		l.File = file
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	for _, f := range fields(&l.Config) {
		if f.env == "" {
			continue
		}
		if v, ok := env[EnvPrefix+f.env]; ok {
			if err := setText(f.value, v); err != nil {
				return nil, fmt.Errorf("config: %s%s (%s): %w", EnvPrefix, f.env, f.path, err)
			}
			l.explicit[f.path] = true
		}
	}
	if flags != nil {
		src := fields(&flags.cfg)
		dst := fields(&l.Config)
		for i, f := range src {
			if flags.touched[f.path] {
				dst[i].value.Set(f.value)
				l.explicit[f.path] = true
			}
		}
	}
	return l, nil
}

func (l *Loaded) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&l.Config); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	// Record which paths the file named, so defaults can be told apart from
	// explicit settings (a 443 that fails to bind is only fatal if asked for).
	var tree map[string]any
	if err := yaml.Unmarshal(data, &tree); err == nil {
		markPaths(tree, "", l.explicit)
	}
	return nil
}

func markPaths(tree map[string]any, prefix string, into map[string]bool) {
	for k, v := range tree {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		into[path] = true
		if sub, ok := v.(map[string]any); ok {
			markPaths(sub, path, into)
		}
	}
}
