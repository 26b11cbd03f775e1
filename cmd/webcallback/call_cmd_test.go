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
)

// TestCallCommand places callbacks through the built-in sandbox PBX at a
// small time scale and checks the printed states and the exit status.
func TestCallCommand(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "call.db")
	tests := []struct {
		name           string
		caller, callee string
		wantErr        error
		want           []string // in order, in the output
	}{
		{"completed at the limit", "13800001001", "13800002002", nil,
			[]string{"queued", "calling_caller", "caller_answered", "calling_callee", "connected",
				"completed reason=limit_reached cause=16 prompt=TimeoutHangup billsec=2", "cdr rows: 2"}},
		{"callee busy", "138 0000 1002", "+86 138 1111 2002", errCallNotCompleted,
			[]string{"queued", "calling_caller", "failed reason=callee_busy cause=17 prompt=PartnerBusy", "cdr rows: 2"}},
		{"caller never answers", "13822221001", "13800002002", errCallNotCompleted,
			[]string{"calling_caller", "failed reason=caller_no_answer cause=19", "cdr rows: 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
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
