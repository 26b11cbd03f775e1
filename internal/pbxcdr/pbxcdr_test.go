package pbxcdr

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"webcallback/internal/sandbox"
	"webcallback/internal/store"
)

// TestWriterKeepsRowsWhileTheDatabaseRefuses: rows queued while the cdr
// table cannot take them (here: not created yet) are written, in order,
// once it can; Stop writes what is queued before returning.
func TestWriterKeepsRowsWhileTheDatabaseRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "wcb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	woke := make(chan struct{}, 10)
	w := New(st, slog.New(slog.DiscardHandler), func() { woke <- struct{}{} })
	go w.Run(ctx)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	talk := 7
	for i := 0; i < 3; i++ {
		w.Sink(sandbox.CDRRecord{Start: at.Add(time.Duration(i) * time.Second), UniqueID: fmt.Sprintf("1795625800.%d", i),
			Channel: "PJSIP/gateway-1", Disposition: "ANSWERED", Sequence: i + 1, TalkSec: &talk})
	}
	if w.Written() != 0 {
		t.Fatalf("written %d rows into a database without a cdr table", w.Written())
	}
	if err := st.Migrate(ctx); err != nil { // the database takes writes again
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	w.Stop(sctx)
	if w.Written() != 3 || len(woke) != 3 {
		t.Fatalf("written %d rows, woke %d times; want 3", w.Written(), len(woke))
	}
	rows, _, err := st.SearchCDRs(ctx, store.CDRFilter{})
	if err != nil || len(rows) != 3 {
		t.Fatalf("cdr rows = %d, %v", len(rows), err)
	}
	for i, r := range rows { // newest first
		if want := fmt.Sprintf("1795625800.%d", 2-i); r.UniqueID != want || r.TalkSec == nil || *r.TalkSec != 7 {
			t.Errorf("row %d = %s talksec %v, want %s with talksec 7", i, r.UniqueID, r.TalkSec, want)
		}
	}
}
