// Package datadir creates the files turnkey generates in its data
// directory (the TURN secret, the store encryption key) and reads them back.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrEmpty is wrapped when a generated file exists but holds nothing.
var ErrEmpty = errors.New("file is empty")

// LoadOrCreate returns the content of path, trimmed of surrounding space,
// first creating the file with generate's value when it does not exist;
// created reports whether this call made it.
//
// The file appears whole or not at all: the value is written to a temporary
// file beside it (mode 0600) and synced, then hard-linked into place. A link,
// unlike a rename, fails when path exists, so of processes starting at once
// one creates the file and every other reads back what it wrote.
func LoadOrCreate(path string, generate func() (string, error)) (value string, created bool, err error) {
	value, err = read(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return value, false, err
	}
	value, err = generate()
	if err != nil {
		return "", false, fmt.Errorf("generate %s: %w", path, err)
	}
	err = create(path, value)
	if errors.Is(err, fs.ErrExist) {
		value, err = read(path)
		return value, false, err
	}
	if err != nil {
		return "", false, err
	}
	return value, true, nil
}

// read returns path's trimmed content; an error matching fs.ErrNotExist
// when there is no file.
func read(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err // a *PathError, naming the file
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("%s: %w; delete it to generate a new one", path, ErrEmpty)
	}
	return v, nil
}

// create makes path holding value; an error matching fs.ErrExist when the
// file exists.
func create(path, value string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(value + "\n")
	// Sync: losing the file after it was used (the store key above all)
	// loses what it protects.
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	// The new name lives in the directory, which needs its own sync.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("create %s: sync directory: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
