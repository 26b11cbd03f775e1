package config

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webcallback/internal/store"
	"webcallback/internal/testenv"
)

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "wcb.conf")
	os.WriteFile(file, []byte("# comment\ncall-limit = 120s\nregion = US\nlisten = 127.0.0.1:9999\n"), 0o600)
	t.Setenv("WEBCALLBACK_REGION", "GB")
	t.Setenv("WEBCALLBACK_CONFIG", file)
	l := NewLoader("serve")
	if err := l.Parse([]string{"--listen", "127.0.0.1:7000"}); err != nil {
		t.Fatal(err)
	}
	s := l.S
	if s.Listen != "127.0.0.1:7000" { // flag beats file
		t.Errorf("listen = %s", s.Listen)
	}
	if s.Region != "GB" { // env beats file
		t.Errorf("region = %s", s.Region)
	}
	if s.CallLimit != 120*time.Second { // file beats default
		t.Errorf("call-limit = %s", s.CallLimit)
	}
	if s.CallWarning != 20*time.Second { // default
		t.Errorf("call-warning = %s", s.CallWarning)
	}
}

func TestSecretFileAndRedaction(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "secret")
	os.WriteFile(f, []byte("s3cr3t-from-file-xyz\n"), 0o600)
	l := NewLoader("serve")
	err := l.Parse([]string{"--ami", "tcp://wcb:urlsecret@10.1.2.3:5038", "--ami-secret-file", f, "--db", "mysql://u:dbpass@db:3306/x"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.S.AMIEndpoint()
	if err != nil || e.Secret != "s3cr3t-from-file-xyz" || e.Addr != "10.1.2.3:5038" {
		t.Fatalf("endpoint %+v %v", e, err)
	}
	log := fmt.Sprint(l.S.Redacted()...)
	for _, secret := range []string{"urlsecret", "dbpass", "s3cr3t"} {
		if strings.Contains(log, secret) {
			t.Errorf("redacted settings leak %q: %s", secret, log)
		}
	}
}

// TestAMINodes: --ami with one URL per Asterisk node, per-node caps in
// the query, each node named once; secrets never in the redacted log.
func TestAMINodes(t *testing.T) {
	s := &Settings{AMI: "tcp://wcb:first-secret-1@10.0.0.1:5038?max_concurrent=40&max_cps=2.5, tls://wcb:second-secret-2@10.0.0.2"}
	es, err := s.AMIEndpoints()
	if err != nil || len(es) != 2 {
		t.Fatalf("AMIEndpoints = %+v, %v", es, err)
	}
	if e := es[0]; e.Addr != "10.0.0.1:5038" || e.MaxConcurrent != 40 || e.MaxCPS != 2.5 || e.Secret != "first-secret-1" {
		t.Errorf("node 1: %+v", e)
	}
	if e := es[1]; e.Addr != "10.0.0.2:5039" || !e.TLS || e.MaxConcurrent != 0 || e.Secret != "second-secret-2" {
		t.Errorf("node 2: %+v", e)
	}
	if red := RedactAMI(s.AMI); strings.Contains(red, "secret-1") || strings.Contains(red, "secret-2") || !strings.Contains(red, "10.0.0.2") {
		t.Errorf("RedactAMI = %q", red)
	}
	for ami, want := range map[string]string{
		"tcp://wcb:s@h:5038,tcp://wcb:s@h:5038": "named twice",
		"tcp://wcb:s@h:5038?max_concurrent=0":   "max_concurrent wants one positive number",
		"tcp://wcb:s@h:5038?max_cps=NaN":        "max_cps wants one positive number",
		"tcp://wcb:s@h:5038?maxconc=3":          `unknown parameter "maxconc"`,
		"tcp://wcb:s@h:5038,":                   "node 2",
		"tcp://wcb:s@h:5038,tcp://wcb@h2:5038":  "missing secret",
		"tcp://wcb:s@h:5038/x":                  "no path",
	} {
		if _, err := (&Settings{AMI: ami}).AMIEndpoints(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--ami %q: err %v, want %q", ami, err, want)
		}
	}
}

// TestSystemdCredentials: a secret given no other way is read from
// $CREDENTIALS_DIRECTORY/<name> (LoadCredential=); one given by flag, env,
// settings file or --*-file wins; a setting that is no secret is never
// read from there.
func TestSystemdCredentials(t *testing.T) {
	creds := t.TempDir()
	for name, v := range map[string]string{"admin-token": "tok-from-credential-0123456789abcdef\n",
		"webhook-secret": "hook-from-credential", "listen": "0.0.0.0:1"} {
		os.WriteFile(filepath.Join(creds, name), []byte(v), 0o400)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	l := NewLoader("serve")
	if err := l.Parse([]string{"--webhook-secret", "hook-from-flag"}); err != nil {
		t.Fatal(err)
	}
	if l.S.AdminToken != "tok-from-credential-0123456789abcdef" {
		t.Errorf("admin-token = %q; want the credential's first line", l.S.AdminToken)
	}
	if l.S.WebhookSecret != "hook-from-flag" {
		t.Errorf("webhook-secret = %q; the flag must win over the credential", l.S.WebhookSecret)
	}
	if l.S.Listen == "0.0.0.0:1" || l.S.AMISecret != "" {
		t.Errorf("settings read from credentials they should not be: listen %q, ami-secret %q", l.S.Listen, l.S.AMISecret)
	}
	// An unreadable credential is a bad setting naming it.
	os.Chmod(filepath.Join(creds, "admin-token"), 0o000)
	if os.Getuid() != 0 { // root reads anything
		if err := NewLoader("serve").Parse(nil); err == nil || !strings.Contains(err.Error(), "credential") {
			t.Errorf("unreadable credential: %v", err)
		}
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--ami", "http://x"}, "scheme"},
		{[]string{"--ami", "tcp://host:5038"}, "user"},
		{[]string{"--trunk", "gw;evil"}, "--trunk"},
		{[]string{"--callerid-mode", "did"}, "--did"},
		{[]string{"--call-warning", "400s"}, "--call-warning"},
		{[]string{"--limits", "maybe"}, "on or off"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,nonsense"}, "bad"},
		{[]string{"--did", "123abc", "--callerid-mode", "did"}, "digits"},
	}
	for _, c := range cases {
		l := NewLoader("serve")
		l.FS.SetOutput(new(strings.Builder))
		err := l.Parse(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

func TestSampleSecretRefusedOffLoopback(t *testing.T) {
	for _, c := range []struct {
		ami string
		ok  bool
	}{
		{"tcp://admin:123456@127.0.0.1:5038", true},
		{"tcp://admin:123456@localhost:5038", true},
		{"tcp://admin:123456@192.0.2.7:5038", false},
		{"tcp://admin:short@192.0.2.7:5038", false},
		{"tls://admin:a-long-random-secret@192.0.2.7", true},
	} {
		l := NewLoader("serve")
		if err := l.Parse([]string{"--ami", c.ami}); err != nil {
			t.Fatal(err)
		}
		if err := l.S.CheckSecrets(); (err == nil) != c.ok {
			t.Errorf("%s: CheckSecrets = %v", c.ami, err)
		}
	}
}

func TestDaysDuration(t *testing.T) {
	l := NewLoader("serve")
	if err := l.Parse([]string{"--retention", "90d"}); err != nil {
		t.Fatal(err)
	}
	if l.S.Retention != 90*24*time.Hour {
		t.Fatal(l.S.Retention)
	}
}

func TestPolicySettings(t *testing.T) {
	t.Setenv("WEBCALLBACK_LIMIT_PER_IP", "3/1m")
	l := NewLoader("serve")
	if err := l.Parse([]string{"--limit-per-callee", "off", "--deny-prefixes", "+8617,+8616", "--region", "HK", "--limits", "off"}); err != nil {
		t.Fatal(err)
	}
	c := l.S.PolicyConfig()
	if c.PerIP.N != 3 || c.PerIP.Per != time.Minute {
		t.Errorf("per-ip from env = %+v", c.PerIP)
	}
	if !c.PerCallee.Off() || len(c.DenyPrefixes) != 2 || c.Region != "HK" || c.Limits {
		t.Errorf("policy config = %+v", c)
	}
	if c.PerCaller.N == 0 { // untouched: the policy's safe default
		t.Errorf("per-caller default lost")
	}
}

// TestWarnings: each dangerous but legal setting gives one warning saying
// what it opens; the defaults give none.
func TestWarnings(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"--limits", "off"}, []string{"--limits off"}},
		{[]string{"--trusted-proxies", "10.0.0.0/8,0.0.0.0/0,::/0"}, []string{"X-Forwarded-For"}},
		{[]string{"--caller-connected-per-day", "0", "--callee-per-day", "0"}, []string{"quotas off (--caller-connected-per-day, --callee-per-day = 0)"}},
		{[]string{"--limits", "off", "--callee-per-day", "0"}, []string{"--limits off"}}, // quotas are off anyway: said once
	} {
		l := NewLoader("serve")
		if err := l.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		got := l.S.Warnings()
		if len(got) != len(c.want) {
			t.Errorf("%v: warnings %q, want %d", c.args, got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%v: warning %q lacks %q", c.args, got[i], w)
			}
		}
	}
}

// TestDefaultInstanceUniquePerProcess: with no --instance, two processes
// of one host (two listen ports) get two names, the same on every restart;
// a given name (flag, env) wins.
func TestDefaultInstanceUniquePerProcess(t *testing.T) {
	testenv.ClearSettings(t)
	parse := func(args ...string) string {
		t.Helper()
		l := NewLoader("serve")
		l.FS.SetOutput(io.Discard)
		if err := l.Parse(args); err != nil {
			t.Fatal(err)
		}
		return l.S.Instance
	}
	a, b := parse("--listen", "127.0.0.1:8081"), parse("--listen", "0.0.0.0:8082")
	if a == b || !strings.HasSuffix(a, "-8081") || !strings.HasSuffix(b, "-8082") {
		t.Errorf("instances %q and %q: want distinct, ending in the port", a, b)
	}
	if again := parse("--listen", "127.0.0.1:8081"); again != a {
		t.Errorf("restart: %q, was %q", again, a)
	}
	if got := parse("--listen", "127.0.0.1:8081", "--instance", "web-a"); got != "web-a" {
		t.Errorf("--instance web-a: got %q", got)
	}
	t.Setenv("WEBCALLBACK_INSTANCE", "web-b")
	if got := parse("--listen", "127.0.0.1:8081"); got != "web-b" {
		t.Errorf("WEBCALLBACK_INSTANCE=web-b: got %q", got)
	}
}

// TestOpenStoreNormalizesForeignNumbers: the store the settings open counts
// a CDR without a request under the number's E.164 form, read with
// --region and --international-prefix, as a typed number is.
func TestOpenStoreNormalizesForeignNumbers(t *testing.T) {
	testenv.ClearSettings(t)
	l := NewLoader("serve")
	if err := l.Parse([]string{"--db", "sqlite:" + t.TempDir() + "/wcb.db", "--region", "CN"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := l.S.OpenStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i, src := range []string{"13800001001", "008613800001001", "+86 138 0000 1001"} {
		if _, err := st.InsertCDR(ctx, &store.CDR{CallDate: at, Src: src, Channel: "PJSIP/gateway-1", Disposition: "NO ANSWER",
			UniqueID: fmt.Sprintf("1795625800.%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.ListNumberStats(ctx, 10, 0)
	if err != nil || len(rows) != 1 || rows[0].Number != "+8613800001001" || rows[0].Calls != 3 {
		t.Fatalf("stats rows = %+v, %v; want one row +8613800001001 with 3 calls", rows, err)
	}
}

// TestSpoolPerInstance: on a server database every instance gets a spool
// of its own by default (a spool is one process's), the same on a restart;
// beside a SQLite file the spool stays the database's.
func TestSpoolPerInstance(t *testing.T) {
	testenv.ClearSettings(t)
	spool := func(args ...string) string {
		t.Helper()
		l := NewLoader("serve")
		l.FS.SetOutput(io.Discard)
		if err := l.Parse(args); err != nil {
			t.Fatal(err)
		}
		dir, _ := l.S.Spool()
		return dir
	}
	db := "mysql://wcb:pw@127.0.0.1:3306/wcb"
	a, b := spool("--db", db, "--listen", "127.0.0.1:8081"), spool("--db", db, "--listen", "127.0.0.1:8082")
	if a == b || filepath.Dir(a) != filepath.Join("data", "spool") {
		t.Errorf("spools %q and %q: want one per instance under data/spool", a, b)
	}
	if got := spool("--db", db, "--instance", "web-a"); got != filepath.Join("data", "spool", "web-a") {
		t.Errorf("--instance web-a: spool %q", got)
	}
	if got := spool("--db", "sqlite:/var/lib/wcb/wcb.db", "--instance", "web-a"); got != "/var/lib/wcb/wcb.db.spool" {
		t.Errorf("SQLite: spool %q", got)
	}
}

// TestAMIEvents: the Login's event classes must include the ones the
// service reads; "on" is every class.
func TestAMIEvents(t *testing.T) {
	for _, tc := range []struct {
		events, cdrSource string
		ok                bool
	}{
		{"call,cdr,user,system", "table", true},
		{"call,user,system", "table", true},
		{" Call, User ,SYSTEM", "table", true},
		{"on", "ami", true},
		{"all", "ami", true},
		{"call,user,system", "ami", false},
		{"call,cdr,user", "table", false},
		{"", "table", false},
		{"off", "table", false},
		{"call,user,system,bogus", "table", false},
		{"call,user,system\r\nAction: Originate", "table", false},
	} {
		if err := checkAMIEvents(tc.events, tc.cdrSource); (err == nil) != tc.ok {
			t.Errorf("%q with --cdr-source %s: %v, want accepted=%v", tc.events, tc.cdrSource, err, tc.ok)
		}
	}
}
