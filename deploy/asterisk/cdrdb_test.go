package asterisk

import (
	"slices"
	"strings"
	"testing"
)

const testDBPassword = "db-secret-1234"

// TestCDRDatabaseBackends: each --db kind renders its Asterisk CDR backend
// into the service's cdr table (talksec filled by name, calldate in UTC),
// loads its modules, keeps the password in files only Asterisk reads, and
// the default stays AMI-only.
func TestCDRDatabaseBackends(t *testing.T) {
	for _, tt := range []struct {
		dsn     string
		files   []string
		modules []string
		checks  map[string][][2]string // file → section/key → value
	}{
		{"mysql://wcb:" + testDBPassword + "@10.0.0.7:3307/webcallback?table=cdr",
			[]string{"res_odbc.conf", "cdr_adaptive_odbc.conf", "odbc.ini"}, []string{"res_odbc.so", "cdr_adaptive_odbc.so"},
			map[string][][2]string{
				"res_odbc.conf":          {{"webcallback/dsn", "webcallback-cdr"}, {"webcallback/username", "wcb"}, {"webcallback/password", testDBPassword}},
				"cdr_adaptive_odbc.conf": {{"webcallback/connection", "webcallback"}, {"webcallback/table", "cdr"}, {"webcallback/usegmtime", "yes"}, {"webcallback/alias start", "calldate"}},
				"odbc.ini":               {{"webcallback-cdr/Server", "10.0.0.7"}, {"webcallback-cdr/Port", "3307"}, {"webcallback-cdr/Database", "webcallback"}, {"webcallback-cdr/Driver", "MariaDB Unicode"}},
			}},
		{"postgres://wcb:" + testDBPassword + "@db.example.net/webcallback?sslmode=disable",
			[]string{"cdr_pgsql.conf"}, []string{"cdr_pgsql.so"},
			map[string][][2]string{
				"cdr_pgsql.conf": {{"global/hostname", "db.example.net"}, {"global/port", "5432"}, {"global/dbname", "webcallback"},
					{"global/user", "wcb"}, {"global/password", testDBPassword}, {"global/table", "cdr"}, {"global/timezone", "UTC"}},
			}},
		{"sqlite:/var/lib/webcallback/webcallback.db",
			[]string{"res_odbc.conf", "cdr_adaptive_odbc.conf", "odbc.ini"}, []string{"res_odbc.so", "cdr_adaptive_odbc.so"},
			map[string][][2]string{
				"odbc.ini":               {{"webcallback-cdr/Driver", "SQLite3"}, {"webcallback-cdr/Database", "/var/lib/webcallback/webcallback.db"}},
				"cdr_adaptive_odbc.conf": {{"webcallback/usegmtime", "yes"}, {"webcallback/alias start", "calldate"}},
			}},
	} {
		t.Run(strings.SplitN(tt.dsn, ":", 2)[0], func(t *testing.T) {
			cdr, err := ParseCDRDatabase(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			s := ipSettings()
			s.CDR = cdr
			files, err := Render(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(Files)+len(tt.files) {
				t.Errorf("rendered %d files, want %d", len(files), len(Files)+len(tt.files))
			}
			for file, kvs := range tt.checks {
				c, err := ParseConf(files[file])
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				for _, kv := range kvs {
					sec, key, _ := strings.Cut(kv[0], "/")
					if c.Section(sec) == nil {
						t.Fatalf("%s: no [%s]", file, sec)
					}
					if got, _ := c.Section(sec).Get(key); got != kv[1] {
						t.Errorf("%s [%s] %s = %q, want %q", file, sec, key, got, kv[1])
					}
				}
			}
			mods, err := ParseConf(files["modules.conf"])
			if err != nil {
				t.Fatal(err)
			}
			req := mods.Section("modules").All("require")
			for _, m := range tt.modules {
				if !slices.Contains(req, m) {
					t.Errorf("modules.conf does not require %s", m)
				}
			}
			for name, b := range files {
				if strings.Contains(string(b), testDBPassword) && !slices.Contains(secretFiles, name) {
					t.Errorf("%s holds the database password but is not written owner-only", name)
				}
			}
		})
	}
	// Without a database backend: Cdr events only, no ODBC module.
	files, err := Render(ipSettings())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(Files) || strings.Contains(string(files["modules.conf"]), "odbc") {
		t.Errorf("the default renders a database backend")
	}
}

// TestCDRDatabaseRefusesInjection: values that would add options or
// sections to a conf file are refused, not rendered.
func TestCDRDatabaseRefusesInjection(t *testing.T) {
	for _, dsn := range []string{
		"mysql://wcb:pass%20word1@db/webcallback",
		"mysql://wcb:" + testDBPassword + "@db/web%0Acallback",
		"mysql://w%0Acb:" + testDBPassword + "@db/webcallback",
		"postgres://wcb:" + testDBPassword + "@db%5Bx%5D/webcallback",
		"postgres://wcb:" + testDBPassword + "@db/webcallback?table=cdr%3Bx",
		"sqlite:/var/lib/web;callback.db",
		"sqlite:/var/lib/web\ncallback.db",
		"oracle://x",
	} {
		if _, err := ParseCDRDatabase(dsn); err == nil {
			t.Errorf("ParseCDRDatabase(%q) accepted it", dsn)
		}
	}
	s := ipSettings()
	s.CDR = CDRDatabase{Kind: CDRSQLite, Path: "/x\n[evil]", Table: "cdr"}
	if _, err := Render(s); err == nil {
		t.Error("Render accepted a path with a line break")
	}
}

// TestDialplanTalkTimeAndRingTimeout: the dialplan sets CDR(talksec) on
// both ways out of a call (Dial returned; the caller hung up during Dial)
// and turns Dial's ring timeout (cause 0) into 19 before the userfield.
func TestDialplanTalkTimeAndRingTimeout(t *testing.T) {
	d := mustDialplan(t, ipSettings())
	sub := d.Extension("webcallback-talksec", "s")
	if len(sub) == 0 || !strings.Contains(sub[len(sub)-2].Data, "CDR(talksec)=") {
		t.Fatalf("[webcallback-talksec] does not set CDR(talksec): %+v", sub)
	}
	for _, exten := range []string{"s", "h"} {
		calls := 0
		for _, st := range d.Extension("webcallback", exten) {
			if st.App == "Gosub" && strings.HasPrefix(st.Data, "webcallback-talksec,") {
				calls++
			}
		}
		if calls != 1 {
			t.Errorf("exten %s calls webcallback-talksec %d times, want 1", exten, calls)
		}
	}
	steps := d.Extension("webcallback", "s")
	fix, uf := -1, -1
	for i, st := range steps {
		if strings.Contains(st.Data, `"${WCB_STATUS}" = "NOANSWER"`) && strings.Contains(st.Data, "WCB_CAUSE=19") {
			fix = i
		}
		if strings.HasPrefix(st.Data, "CDR(userfield)=") {
			uf = i
		}
	}
	if fix < 0 || uf < 0 || fix > uf {
		t.Errorf("no ring-timeout → 19 step before the userfield (step %d, userfield %d)", fix, uf)
	}
}
