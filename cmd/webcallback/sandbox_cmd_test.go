package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
)

func TestParseSandboxFlags(t *testing.T) {
	t.Setenv(sandboxSecretEnv, "")
	tests := []struct {
		name    string
		args    []string
		env     string
		wantErr string
	}{
		{"secret flag", []string{"--secret", "x1"}, "", ""},
		{"secret env", nil, "from-env", ""},
		{"no secret", nil, "", "no AMI secret"},
		{"bad scale", []string{"--secret", "x", "--time-scale", "0"}, "", "--time-scale"},
		{"negative scale", []string{"--secret", "x", "--time-scale", "-1"}, "", "--time-scale"},
		{"bad channels", []string{"--secret", "x", "--max-channels", "-2"}, "", "--max-channels"},
		{"bad cps", []string{"--secret", "x", "--max-cps", "-1"}, "", "--max-cps"},
		{"stray arg", []string{"--secret", "x", "extra"}, "", "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(sandboxSecretEnv, tt.env)
			cfg, listen, _, err := parseSandboxFlags(tt.args, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if cfg.Secret == "" || listen != "127.0.0.1:5038" || cfg.TimeScale != 1 {
					t.Errorf("cfg %+v listen %q", cfg, listen)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestRunSandbox runs the command on a free port, logs in with the real
// client and stops it by canceling the context.
func TestRunSandbox(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv(sandboxSecretEnv, "cmd-secret")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runSandbox(ctx, []string{"--listen", addr, "--time-scale", "0.01"}) }()
	var c *ami.Client
	for i := 0; ; i++ {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err = ami.Dial(dctx, ami.Config{Addr: addr, Username: "webcallback", Secret: "cmd-secret"})
		dcancel()
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("dial: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := c.Do(context.Background(), ami.NewMessage("Action", "Ping"))
	if err != nil || resp.Get("Ping") != "Pong" {
		t.Errorf("Ping: %v %v", resp, err)
	}
	c.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runSandbox: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runSandbox did not return after cancel")
	}
}
