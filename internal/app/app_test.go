package app_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"webcallback/ami"
	"webcallback/internal/app"
	"webcallback/internal/app/apptest"
	"webcallback/internal/web"
)

// TestOptions: New hands WithAMIConfig and WithWeb the configs the settings
// made, and builds with their edits; the result serves.
func TestOptions(t *testing.T) {
	var amiCfg ami.Config
	var webCfg web.Config
	var sandbox bool
	svc := apptest.Start(t, nil, []string{"--sandbox-time-scale", "0.01", "--admin-token", "options-test-admin-token"},
		app.WithAMIConfig(func(c *ami.Config) { amiCfg = *c; c.PingInterval = -1 }),
		app.WithWeb(func(c *web.Config, d *web.Deps) { webCfg, sandbox = *c, d.Sandbox; c.MaxStreams = 1 }))
	if amiCfg.Addr != svc.PBX.Addr || amiCfg.Username == "" || amiCfg.Events != "call,cdr,user,system" || !amiCfg.AuthMD5 {
		t.Errorf("AMI config given to the option: %+v", amiCfg)
	}
	if webCfg.AdminToken != "options-test-admin-token" || !sandbox {
		t.Errorf("web config given to the option: %+v, sandbox %v", webCfg, sandbox)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(svc.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}

// TestWarningsOnce: each dangerous setting is logged once at start, and the
// component attribute appears once per line (the policy's at start, the
// refusal counts', which include a bad admin token).
func TestWarningsOnce(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	svc := apptest.Start(t, log, []string{"--sandbox-time-scale", "0.01", "--limits", "off", "--trusted-proxies", "0.0.0.0/0",
		"--admin-token", "warnings-test-admin-token"})
	req, _ := http.NewRequest("GET", svc.URL+"/api/v1/admin/calls", nil)
	req.Header.Set("Authorization", "Bearer not-the-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	svc.Refusals.Flush() // refusals are logged as counts per interval
	out := buf.String()
	if !strings.Contains(out, "admin_unauthorized=1") {
		t.Errorf("no log of the bad admin token:\n%s", out)
	}
	limitWarnings := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") && limitsOff.MatchString(line) {
			limitWarnings++
		}
	}
	if limitWarnings != 1 {
		t.Errorf("--limits off warned %d times:\n%s", limitWarnings, out)
	}
	if n := strings.Count(out, "X-Forwarded-For"); n != 1 {
		t.Errorf("trusted 0.0.0.0/0 warned %d times:\n%s", n, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Count(line, "component=") > 1 {
			t.Errorf("attribute logged twice: %s", line)
		}
	}
}

// limitsOff matches the warnings of --limits off, this one and the one the
// policy used to log as well.
var limitsOff = regexp.MustCompile(`(?i)limits (are )?off`)

// syncBuffer is a bytes.Buffer safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCloseJoinsEverything: once Serve has returned and Close is done, no
// goroutine of the service is left: the web's workers (metrics feed,
// webhooks), the engine, the CDR monitor, the retention sweep, the AMI
// client and the sandbox all ended before Close returned.
func TestCloseJoinsEverything(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	t.Run("serve", func(t *testing.T) {
		svc := apptest.Start(t, nil, []string{"--sandbox-time-scale", "0.01", "--retention", "24h",
			"--webhook-url", hook.URL, "--webhook-secret", "close-test-secret", "--admin-token", "close-test-admin-token"})
		resp, err := http.Get(svc.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}) // the subtest's cleanup has cancelled Serve and run Close
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "webcallback/") && !strings.Contains(g, "app_test.TestCloseJoinsEverything") &&
			!strings.Contains(g, "testing.tRunner") {
			t.Errorf("goroutine left after Close:\n%s", g)
		}
	}
}
