package asterisk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallODBCIni: the [webcallback-cdr] data source lands in the
// unixODBC file whatever that file held: created when missing, replaced
// (never duplicated) when present, every other section and comment kept.
func TestInstallODBCIni(t *testing.T) {
	rendered := []byte("; header\n;\n\n[webcallback-cdr]\nDriver = SQLite3\nDatabase = /x.db\n\n")
	const note = "; written by webcallback asterisk-config --install: replaced on each run\n"
	ours := "[webcallback-cdr]\n" + note + "Driver = SQLite3\nDatabase = /x.db\n"
	for _, tt := range []struct{ name, before, want string }{
		{"missing", "", ours},
		{"empty", "\n", ours},
		{"other, no final newline", "[a]\nX = 1", "[a]\nX = 1\n\n" + ours},
		{"ours in the middle", "; top\n[a]\nX = 1\n\n[webcallback-cdr]\nServer = old\n\n[b]\nY = 2\n",
			"; top\n[a]\nX = 1\n\n[b]\nY = 2\n\n" + ours},
		{"ours twice, spaced header", "[ webcallback-cdr ]\nA = 1\n[webcallback-cdr]\nB = 2\n", ours},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "odbc.ini")
			if tt.name != "missing" {
				os.WriteFile(path, []byte(tt.before), 0o600)
			}
			if err := InstallODBCIni(path, rendered); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			fi, _ := os.Stat(path)
			if want := map[bool]os.FileMode{true: 0o644, false: 0o600}[tt.name == "missing"]; fi.Mode().Perm() != want {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), want)
			}
		})
	}
	if err := InstallODBCIni(filepath.Join(t.TempDir(), "odbc.ini"), []byte("[other]\n")); err == nil || !strings.Contains(err.Error(), "no [webcallback-cdr]") {
		t.Errorf("a rendering without the data source: %v", err)
	}
}
