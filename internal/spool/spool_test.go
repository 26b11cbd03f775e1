package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func mustOpen(t *testing.T, dir string, max int64) *Spool {
	t.Helper()
	s, err := Open(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// drain pops every record, returning them in order.
func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var out []string
	for {
		rec, ok, err := s.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(rec))
		if err := s.Pop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOrderSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, 0)
	for i := range 5 {
		if err := s.Append([]byte(fmt.Sprint("r", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Two done, then the process "dies".
	for range 2 {
		if err := s.Pop(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = mustOpen(t, dir, 0)
	if s.Len() != 3 {
		t.Fatalf("after reopen: %d records wait, want 3", s.Len())
	}
	got := fmt.Sprint(drain(t, s))
	if got != "[r2 r3 r4]" {
		t.Fatalf("replayed %s, want [r2 r3 r4]", got)
	}
	if st, _ := os.Stat(filepath.Join(dir, logName)); st.Size() != 0 {
		t.Fatalf("drained spool file is %d bytes, want 0", st.Size())
	}
	// Empty and reopened: nothing waits, appends start afresh.
	s.Close()
	s = mustOpen(t, dir, 0)
	if s.Len() != 0 {
		t.Fatalf("drained spool reopened with %d records", s.Len())
	}
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, 0)
	s.Append([]byte("kept"))
	s.Close()
	// A crash inside Append: half a header and a few bytes of a record.
	f, _ := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 0, 50, 1, 2, 3, 4, 'x', 'y'})
	f.Close()
	s = mustOpen(t, dir, 0)
	if got := fmt.Sprint(drain(t, s)); got != "[kept]" {
		t.Fatalf("got %s, want [kept]", got)
	}
	if err := s.Append([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(drain(t, s)); got != "[after]" {
		t.Fatalf("got %s, want [after]", got)
	}
}

func TestCorruptMiddleRefused(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, 0)
	s.Append([]byte("first"))
	s.Append([]byte("second"))
	s.Close()
	path := filepath.Join(dir, logName)
	b, _ := os.ReadFile(path)
	b[headerSize] ^= 0xff // flip a byte of "first"
	os.WriteFile(path, b, 0o640)
	if _, err := Open(dir, 0); err == nil {
		t.Fatal("a spool with a corrupt acknowledged record opened without error")
	}
}

func TestBound(t *testing.T) {
	s := mustOpen(t, t.TempDir(), 3*(headerSize+4))
	for i := range 3 {
		if err := s.Append([]byte("abcd")); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := s.Append([]byte("abcd")); !errors.Is(err, ErrFull) {
		t.Fatalf("append past the bound: %v, want ErrFull", err)
	}
	s.Pop()
	if err := s.Append([]byte("abcd")); err != nil {
		t.Fatalf("append after a pop made room: %v", err)
	}
}

func TestPositionPastEndIsEmpty(t *testing.T) {
	// A crash between truncating the drained file and resetting the position.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, posName), []byte("4096\n"), 0o640)
	s := mustOpen(t, dir, 0)
	if s.Len() != 0 {
		t.Fatalf("%d records, want 0", s.Len())
	}
	s.Append([]byte("a"))
	s.Close()
	s = mustOpen(t, dir, 0)
	if got := fmt.Sprint(drain(t, s)); got != "[a]" {
		t.Fatalf("got %s, want [a]", got)
	}
}

func TestOneProcessPerSpool(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, 0)
	if _, err := Open(dir, 0); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
	s.Close()
	s2 := mustOpen(t, dir, 0) // free again once closed
	s2.Close()
}
