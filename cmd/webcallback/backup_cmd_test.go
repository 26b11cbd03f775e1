package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"webcallback/internal/app/apptest"
	"webcallback/internal/callback"
	"webcallback/internal/store"
)

// backupTestArgs run the service with the store's quotas (the ones a
// restore must keep) and without the in-memory per-IP and per-prefix
// limits, which every test call from 127.0.0.1 would trip.
func backupTestArgs(db string) []string {
	return []string{"--db", db, "--sandbox-time-scale", "0.05", "--call-limit", "1h", "--call-warning", "0",
		"--limit-per-ip", "off", "--limit-per-subnet", "off", "--limit-per-prefix", "off", "--pow", "off"}
}

// TestBackupUnderLoadAndRestore: `backup` copies the database of a running
// service while calls are in progress and new ones arrive; `restore` puts
// the copy in place of a database; a service started on it has every
// request, CDR and per-number quota the backup was taken over, and the
// quotas still refuse.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	t.Parallel() // a service of its own: see TestMain
	dir := t.TempDir()
	live := "sqlite:" + filepath.Join(dir, "live.db")
	svc := apptest.Start(t, nil, backupTestArgs(live))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := &apiClient{base: svc.URL, http: &http.Client{}}

	// Calls finished before the backup: requests, CDRs, quotas.
	var done []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			err := callViaServer(ctx, svc.URL, fmt.Sprintf("138000010%02d", i), fmt.Sprintf("1385555%02d03", i), "", &out)
			if err != nil {
				t.Errorf("call %d: %v\n%s", i, err, out.String())
				return
			}
			mu.Lock()
			done = append(done, strings.TrimSuffix(strings.Fields(strings.TrimPrefix(out.String(), "request "))[0], ":"))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, id := range done {
		if n := waitCDRs(svc.Store, id, 2, 20*time.Second); n != 2 {
			t.Fatalf("request %s: %d CDR rows, want 2", id, n)
		}
	}

	// Calls in progress during the backup: connected, and staying so.
	connected := make(chan string)
	var long []string
	for i := range 3 {
		r, err := api.create(ctx, fmt.Sprintf("138000020%02d", i), fmt.Sprintf("138000030%02d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		long = append(long, r.ID)
		go api.stream(ctx, r.ID, "", func(r *callback.Request) {
			if r.State == callback.StateConnected {
				connected <- r.ID
			}
		})
	}
	for range long {
		select {
		case <-connected:
		case <-ctx.Done():
			t.Fatal("the long calls never connected")
		}
	}
	// The stream tells "connected" as the engine decides it; the store has
	// it a moment later (the engine's writer). The backup must find it.
	for _, id := range long {
		for {
			r, err := svc.Store.GetRequest(ctx, id)
			if err == nil && hasState(r, callback.StateConnected) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("call %s connected but never stored so: %+v, %v", id, r, err)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}

	// What the backup must hold: taken before it starts.
	want := snapshot(ctx, t, svc.Store, done)

	// New calls keep arriving while the backup runs.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	for i := range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			for j := 0; loadCtx.Err() == nil && j < 20; j++ {
				callViaServer(loadCtx, svc.URL, fmt.Sprintf("13800%d%05d", 4+i, j), fmt.Sprintf("13855%d%03d03", 6+i, j), "", io.Discard)
			}
		}()
	}
	backupFile := filepath.Join(dir, "backup.db")
	var out bytes.Buffer
	err := backupCommand(ctx, []string{"--db", live, "--out", backupFile}, &out, io.Discard)
	stopLoad()
	load.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(out.String(), "backed up to "+backupFile) {
		t.Fatalf("backup said %q", out.String())
	}

	// Restore into a database of its own and start a service on it.
	restored := "sqlite:" + filepath.Join(dir, "restored.db")
	out.Reset()
	if err := restoreCommand(ctx, []string{"--db", restored, "--from", backupFile}, &out, io.Discard); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	svc2 := apptest.Start(t, nil, backupTestArgs(restored))
	got := snapshot(ctx, t, svc2.Store, done)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored data differs from the data at backup time:\n got %+v\nwant %+v", got, want)
	}
	for _, id := range long {
		// The backup caught them connected; the restored service, whose
		// PBX never heard of them, reconciles them to a final state.
		r, err := svc2.Store.GetRequest(ctx, id)
		if err != nil || !hasState(r, callback.StateConnected) {
			t.Fatalf("call in progress at backup time: %+v, %v", r, err)
		}
	}
	// The quotas of the restored database refuse: the first callers had
	// their connected call of the day.
	_, err = (&apiClient{base: svc2.URL, http: &http.Client{}}).create(ctx, "13800001000", "13855559903", "")
	var refusal *apiRefusal
	if !errors.As(err, &refusal) || refusal.Code != "not_eligible" {
		t.Fatalf("a caller whose quota the backup holds: %v; want refused not_eligible", err)
	}
}

// restoredView is what a restore must bring back of some requests.
type restoredView struct {
	Requests map[string]string // id → state, reason, billsec, history length
	CDRs     map[string]int    // request id → CDR rows
	Numbers  map[string]store.NumberStats
}

func snapshot(ctx context.Context, t *testing.T, st *store.DB, ids []string) restoredView {
	t.Helper()
	v := restoredView{Requests: map[string]string{}, CDRs: map[string]int{}, Numbers: map[string]store.NumberStats{}}
	now := time.Now()
	for _, id := range ids {
		r, err := st.GetRequest(ctx, id)
		if err != nil {
			t.Fatalf("request %s: %v", id, err)
		}
		v.Requests[id] = fmt.Sprintf("%s %s %d %d", r.State, r.Reason, r.Billsec, len(r.History))
		_, n, err := st.SearchCDRs(ctx, store.CDRFilter{RequestID: id})
		if err != nil {
			t.Fatal(err)
		}
		v.CDRs[id] = n
		for _, num := range []string{r.Caller, r.Callee} {
			ns, err := st.NumberStats(ctx, num, now)
			if err != nil {
				t.Fatal(err)
			}
			v.Numbers[num] = *ns
		}
	}
	return v
}

func hasState(r *callback.Request, s callback.State) bool {
	for _, h := range r.History {
		if h.State == s {
			return true
		}
	}
	return false
}

// TestBackupRefusals: backup and restore say which tool a database server
// needs, without connecting to it, and want their file.
func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		run  func() error
		code int
		want string
	}{
		{func() error {
			return backupCommand(ctx, []string{"--db", "mysql://u:p@127.0.0.1:1/x", "--out", "x.db"}, io.Discard, io.Discard)
		}, 1, "mysqldump"},
		{func() error {
			return backupCommand(ctx, []string{"--db", "postgres://u:p@127.0.0.1:1/x", "--out", "x.db"}, io.Discard, io.Discard)
		}, 1, "pg_dump"},
		{func() error {
			return restoreCommand(ctx, []string{"--db", "postgres://u:p@127.0.0.1:1/x", "--from", "x.db"}, io.Discard, io.Discard)
		}, 1, "pg_restore"},
		{func() error {
			return backupCommand(ctx, []string{"--db", "sqlite:" + t.TempDir() + "/x.db"}, io.Discard, io.Discard)
		}, 2, "--out"},
		{func() error {
			return restoreCommand(ctx, []string{"--db", "sqlite:" + t.TempDir() + "/x.db"}, io.Discard, io.Discard)
		}, 2, "--from"},
		{func() error {
			return restoreCommand(ctx, []string{"--db", "sqlite:" + t.TempDir() + "/x.db", "--from", "/nonexistent/backup.db"}, io.Discard, io.Discard)
		}, 1, "backup.db"},
	} {
		err := tc.run()
		if code := report(io.Discard, "backup", err); code != tc.code || !strings.Contains(fmt.Sprint(err), tc.want) || strings.Contains(fmt.Sprint(err), ":p@") {
			t.Errorf("exit %d, %v; want exit %d naming %q", code, err, tc.code, tc.want)
		}
	}
}
