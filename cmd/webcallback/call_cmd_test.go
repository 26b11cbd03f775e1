package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"webcallback/internal/app/apptest"
	"webcallback/internal/callback"
)

// TestCallCommand places callbacks through the built-in sandbox PBX at a
// small time scale and checks the printed states and the exit status.
func TestCallCommand(t *testing.T) {
	t.Parallel() // one-shot runs of their own: see TestMain
	tests := []struct {
		name           string
		caller, callee string
		wantErr        error
		want           []string // in order, in the output
	}{
		{"completed at the limit", "13800001001", "13800002002", nil,
			[]string{"queued", "calling_caller", "caller_answered", "confirming", "calling_callee", "connected",
				"completed reason=limit_reached cause=16 prompt=TimeoutHangup billsec=2", "cdr rows: 2"}},
		{"caller never confirms", "13888881001", "13800002002", errCallNotCompleted,
			[]string{"caller_answered", "confirming", "failed reason=caller_no_confirm cause=16 prompt=NoConfirm", "cdr rows: 1"}},
		{"callee busy", "138 0000 1002", "+86 138 1111 2002", errCallNotCompleted,
			[]string{"queued", "calling_caller", "failed reason=callee_busy cause=17 prompt=PartnerBusy", "cdr rows: 2"}},
		{"caller never answers", "13822221001", "13800002002", errCallNotCompleted,
			[]string{"calling_caller", "failed reason=caller_no_answer cause=19", "cdr rows: 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			db := "sqlite:" + filepath.Join(t.TempDir(), "call.db")
			var out bytes.Buffer
			err := callCommand(ctx, []string{"--db", db, "--sandbox-time-scale", "0.005", "--call-limit", "20s",
				"--call-warning", "5s", "--log-level", "error", "--caller", tc.caller, "--callee", tc.callee}, &out, io.Discard)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v\n%s", err, tc.wantErr, out.String())
			}
			rest := out.String()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestCallCommandRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no caller", []string{"--callee", "13800002002"}, "--caller"},
		{"letters", []string{"--caller", "1380000100x", "--callee", "13800002002"}, "--caller"},
		{"injection", []string{"--caller", "13800001001", "--callee", "13800002002\r\nAction: Command"}, "--callee"},
		{"stray argument", []string{"--caller", "13800001001", "--callee", "13800002002", "now"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := callCommand(context.Background(), append([]string{"--db", "sqlite:" + filepath.Join(t.TempDir(), "x.db")}, tc.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestCallViaServer places calls through a running service (assembled by
// app, as serve does, on loopback with the sandbox PBX) with call --server:
// the states come from the service's events, the request is the service's
// own record (client address and all), and the service's own policy
// applies (a refusal is exit status 1 with the API's code).
func TestCallViaServer(t *testing.T) {
	svc := apptest.Start(t, nil, []string{"--sandbox-time-scale", "0.005", "--call-limit", "20s", "--call-warning", "5s",
		"--pow", "always", "--pow-difficulty", "4"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := callCommand(ctx, []string{"--server", svc.URL, "--caller", "13800001001", "--callee", "13800002002"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("call --server: %v\n%s", err, out.String())
	}
	rest := out.String()
	for _, w := range []string{"via " + svc.URL, "queued", "calling_caller", "caller_answered", "confirming", "calling_callee", "connected",
		"completed reason=limit_reached cause=16 prompt=TimeoutHangup billsec=2"} {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q (in order):\n%s", w, out.String())
		}
		rest = rest[i+len(w):]
	}
	id := strings.Fields(strings.TrimPrefix(out.String(), "request "))[0]
	id = strings.TrimSuffix(id, ":")
	if r, err := svc.Engine.Get(ctx, id); err != nil || r.State != callback.StateCompleted {
		t.Fatalf("the service's view of the call: %+v, %v", r, err)
	}
	// Stored by the service as a visitor's request would be.
	if r, err := svc.Store.GetRequest(ctx, id); err != nil || r.ClientIP != "127.0.0.1" || r.Instance != svc.Settings.Instance {
		t.Fatalf("the service's record: %+v, %v", r, err)
	}

	// The same caller again: the service's one-minute cooldown refuses it.
	out.Reset()
	err = callCommand(ctx, []string{"--server", svc.URL, "--caller", "13800001001", "--callee", "13800002002"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refused: ") || report(io.Discard, "call", err) != 1 {
		t.Fatalf("second call: %v\n%s", err, out.String())
	}

	for _, bad := range []string{"127.0.0.1:8080", "ftp://127.0.0.1", "http://127.0.0.1:8080/api"} {
		err := callCommand(ctx, []string{"--server", bad, "--caller", "13800001001", "--callee", "13800002002"}, io.Discard, io.Discard)
		if report(io.Discard, "call", err) != 2 || !strings.Contains(err.Error(), "--server") {
			t.Errorf("--server %s: %v", bad, err)
		}
	}
}
