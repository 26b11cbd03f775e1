package asterisk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// ODBCDSN is the data source odbc.ini defines and res_odbc.conf names.
const ODBCDSN = "webcallback-cdr"

// DefaultODBCIni is unixODBC's system-wide data source file, where
// res_odbc looks the DSN up (not /etc/asterisk).
const DefaultODBCIni = "/etc/odbc.ini"

// InstallODBCIni puts the [webcallback-cdr] section of the rendered
// odbc.ini into the unixODBC file at path: it replaces a section of that
// name and keeps every other data source (the file is shared with other
// programs), or creates the file (0644: it holds no password, which stays
// in res_odbc.conf). The file is replaced atomically, keeping its mode.
func InstallODBCIni(path string, rendered []byte) error {
	section, ok := iniSection(rendered, ODBCDSN)
	if !ok {
		return fmt.Errorf("install %s: the rendered odbc.ini has no [%s]", path, ODBCDSN)
	}
	// A note inside the section, so it is replaced with it on the next run.
	head, rest, _ := bytes.Cut(section, []byte("\n"))
	section = slices.Concat(head, []byte("\n; written by webcallback asterisk-config --install: replaced on each run\n"), rest)
	mode := os.FileMode(0o644)
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("install %s: %w", path, err)
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	return writeAtomic(path, replaceINISection(old, ODBCDSN, section), mode)
}

// iniSection returns the lines of [name] up to the next section header,
// trailing blank lines dropped, ending in a newline.
func iniSection(ini []byte, name string) ([]byte, bool) {
	var out []string
	in := false
	for _, line := range strings.SplitAfter(string(ini), "\n") {
		if h, ok := iniHeader(line); ok {
			if in {
				break
			}
			in = h == name
		}
		if in {
			out = append(out, strings.TrimRight(line, "\r\n")+"\n")
		}
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	return []byte(strings.Join(out, "")), len(out) > 0
}

// replaceINISection drops every [name] section of ini and appends section.
func replaceINISection(ini []byte, name string, section []byte) []byte {
	var b bytes.Buffer
	skip := false
	for _, line := range strings.SplitAfter(string(ini), "\n") {
		if h, ok := iniHeader(line); ok {
			skip = h == name
		}
		if !skip {
			b.WriteString(line)
		}
	}
	kept := bytes.TrimRight(b.Bytes(), "\r\n\t ")
	var out bytes.Buffer
	if len(kept) > 0 {
		out.Write(kept)
		out.WriteString("\n\n")
	}
	out.Write(section)
	return out.Bytes()
}

// iniHeader reports the name of a [section] header line.
func iniHeader(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return "", false
	}
	return strings.TrimSpace(t[1 : len(t)-1]), true
}
