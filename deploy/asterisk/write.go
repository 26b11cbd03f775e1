package asterisk

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// secretFiles may hold a secret and are written readable by the owner only.
var secretFiles = []string{"manager.conf", "pjsip.conf", "res_odbc.conf", "cdr_pgsql.conf"}

// BundleHeader is the line that starts each file in WriteBundle's output.
func BundleHeader(name string) string {
	return fmt.Sprintf(";;;;;;;;;; ===== %s  (install as /etc/asterisk/%s) ===== ;;;;;;;;;;", name, name)
}

// WriteBundle writes the files to w one after the other, in Files order,
// each under a BundleHeader line (an Asterisk comment, so a file cut out of
// the bundle with its header still parses).
func WriteBundle(w io.Writer, files map[string][]byte) error {
	for _, name := range orderedNames(files) {
		if _, err := fmt.Fprintf(w, "%s\n%s\n", BundleHeader(name), files[name]); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// WriteFiles writes the files into dir (created 0750 if missing). Files
// that may hold a secret are 0600, the others 0644. Each file is written to
// a temporary name and renamed, so Asterisk never reads half a file.
func WriteFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, name := range orderedNames(files) {
		if name != filepath.Base(name) || name == "." || name == ".." {
			return fmt.Errorf("refusing file name %q", name)
		}
		mode := os.FileMode(0o644)
		if slices.Contains(secretFiles, name) {
			mode = 0o600
		}
		if err := writeAtomic(filepath.Join(dir, name), files[name], mode); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// orderedNames is Files first (install order), then any other name sorted.
func orderedNames(files map[string][]byte) []string {
	var names, extra []string
	for _, n := range Files {
		if _, ok := files[n]; ok {
			names = append(names, n)
		}
	}
	for n := range files {
		if !slices.Contains(Files, n) {
			extra = append(extra, n)
		}
	}
	slices.Sort(extra)
	return append(names, extra...)
}
