package app_test

import (
	"net/http"
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
	if amiCfg.Addr != svc.PBX.Addr || amiCfg.Username == "" || amiCfg.Events != "call,cdr,user" || !amiCfg.AuthMD5 {
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
