package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
	"webcallback/internal/store/storetest"
	"webcallback/internal/wcbproto"
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
	awaitSandbox(t, done, "cancel")
}

// awaitSandbox waits for the sandbox command to return nil after what
// ended it.
func awaitSandbox(t *testing.T, done <-chan error, after string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sandbox after %s: %v", after, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the sandbox did not end after %s", after)
	}
}

// TestSandboxCoreStopWritesCDRs: "core stop now" on a standalone sandbox
// with --cdr-db mid-call: the PBX hangs the call up, writes its CDR rows
// into the database (as Asterisk's database backend does while it stops)
// and the process ends cleanly.
func TestSandboxCoreStopWritesCDRs(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "wcb.db")
	st := storetest.Open(t, dsn)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- sandboxCommand(ctx, []string{"--secret", "stop-secret", "--time-scale", "0.01", "--cdr-db", dsn}, io.Discard, l)
	}()
	c, err := ami.Dial(ctx, ami.Config{Addr: l.Addr().String(), Username: "webcallback", Secret: "stop-secret", Events: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const id = "5b0f3c2e-8d1a-4c7e-9f00-1234567890ab"
	vars := wcbproto.VarID + "=" + id + "," + wcbproto.VarCaller + "=13800001001," + wcbproto.VarCallee + "=13800002002," +
		wcbproto.VarLimitMS + "=600000," + wcbproto.VarWarnMS + "=0," + wcbproto.VarRingS + "=30"
	if _, err := c.Do(ctx, ami.NewMessage("Action", "Originate", "Channel", "PJSIP/13800001001@gateway",
		"Context", wcbproto.Context, "Exten", wcbproto.Exten, "Priority", wcbproto.Priority, "CallerID", "<13800002002>",
		"Timeout", "30000", "ChannelId", id, "Async", "true", "Variable", vars)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the call to be bridged", func() bool {
		resp, err := c.Do(ctx, ami.NewMessage("Action", "CoreShowChannels"))
		if err != nil {
			t.Fatal(err)
		}
		up := 0
		for _, it := range resp.Items {
			if it.Get("ChannelStateDesc") == "Up" && it.Get("BridgeId") != "" {
				up++
			}
		}
		return up == 2
	})
	if resp, err := c.Do(ctx, ami.NewMessage("Action", "Command", "Command", "core stop now")); err != nil || resp.Get("Response") != "Success" {
		t.Fatalf("core stop now: %v %v", resp, err)
	}
	awaitSandbox(t, done, "core stop now")
	rows, err := st.CallCDRs(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d CDR rows in the database, want the Dial row and the h row: %+v", len(rows), rows)
	}
}
