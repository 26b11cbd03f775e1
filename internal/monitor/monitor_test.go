package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite"

	"webcallback/ami"
	"webcallback/internal/store"
	"webcallback/internal/store/storetest"
	"webcallback/internal/testenv"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestConsumeAMI replays every fixture's events, twice: each Cdr is stored
// once, and the per-number table reflects the calls.
func TestConsumeAMI(t *testing.T) {
	st := storetest.SQLite(t)
	m := New(st, quietLogger())
	all := fixtureEvents(t)
	ch := make(chan *ami.Message, 64)
	done := make(chan error, 1)
	go func() { done <- m.ConsumeAMI(context.Background(), ch) }()
	total := 0
	for pass := 0; pass < 2; pass++ {
		for _, ms := range all {
			for _, msg := range ms {
				ch <- msg
				if pass == 0 && msg.Event() == "Cdr" {
					total++
				}
			}
		}
	}
	ch <- ami.NewMessage("Event", "Cdr", "UniqueID", "x") // invalid: counted, not fatal
	close(ch)
	if err := <-done; err != nil {
		t.Fatalf("ConsumeAMI = %v, want nil when the channel closes", err)
	}
	s := m.Stats()
	if s.Ingested != uint64(total) || s.Duplicates != uint64(total) || s.Invalid != 1 || s.Failed != 0 {
		t.Fatalf("stats %+v, want %d ingested and %d duplicates", s, total, total)
	}
	// Source 13800001001 (the Originate's CallerID) is in 12 fixture calls;
	// bridged: timeout-direct and coreshowchannels (19 s each) and
	// callee-hangup-early (8 s). 13855550010 hung up 10 s into its call.
	day := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		number                   string
		calls, answered, billsec int
	}{
		{"13800001001", 12, 3, 46}, {"13855550010", 1, 1, 10}, {"13855550008", 1, 0, 0},
	} {
		ns, err := st.NumberStats(context.Background(), tc.number, day)
		if err != nil {
			t.Fatal(err)
		}
		if ns.Calls != tc.calls || ns.Answered != tc.answered || ns.Billsec != tc.billsec || ns.TodayCalls != tc.calls {
			t.Errorf("%s stats = %+v, want %d calls, %d answered, %d s", tc.number, ns, tc.calls, tc.answered, tc.billsec)
		}
	}
}

// TestConsumeAMIDrainsOnClose is the graceful stop a service relies on:
// the subscription is closed with Cdr events still buffered in it (and a
// small Batch, so it takes several transactions): all of them are stored
// before ConsumeAMI returns nil.
func TestConsumeAMIDrainsOnClose(t *testing.T) {
	st := storetest.SQLite(t)
	m := New(st, quietLogger())
	m.Batch = 3
	var cdrs []*ami.Message
	for _, ms := range fixtureEvents(t) {
		for _, msg := range ms {
			if msg.Event() == "Cdr" {
				cdrs = append(cdrs, msg)
			}
		}
	}
	ch := make(chan *ami.Message, len(cdrs)+2)
	ch <- ami.NewMessage("Event", ami.EventDropped, "Dropped", "7") // logged, not stored
	for _, msg := range cdrs {
		ch <- msg
	}
	ch <- ami.NewMessage("Event", "Hangup", "Uniqueid", "x") // not a Cdr: ignored
	close(ch)
	if err := m.ConsumeAMI(context.Background(), ch); err != nil {
		t.Fatalf("ConsumeAMI = %v, want nil once the closed channel is drained", err)
	}
	if s := m.Stats(); s.Ingested != uint64(len(cdrs)) || s.Invalid != 0 || s.Failed != 0 {
		t.Fatalf("stats %+v, want all %d buffered CDRs ingested", s, len(cdrs))
	}
}

func TestConsumeAMIStopsOnCancel(t *testing.T) {
	m := New(storetest.SQLite(t), quietLogger())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.ConsumeAMI(ctx, make(chan *ami.Message)); err != context.Canceled {
		t.Fatalf("ConsumeAMI after cancel = %v", err)
	}
}

// originalSchema is the original's cdr table (seed, verbatim); SQLite
// takes it as is too.
const originalSchema = "CREATE TABLE `cdr` (\n" +
	"`calldate` datetime NOT NULL default '0000-00-00 00:00:00',\n" +
	"`clid` varchar(80) NOT NULL default '',\n`src` varchar(80) NOT NULL default '',\n" +
	"`dst` varchar(80) NOT NULL default '',\n`dcontext` varchar(80) NOT NULL default '',\n" +
	"`channel` varchar(80) NOT NULL default '',\n`dstchannel` varchar(80) NOT NULL default '',\n" +
	"`lastapp` varchar(80) NOT NULL default '',\n`lastdata` varchar(80) NOT NULL default '',\n" +
	"`duration` int(11) NOT NULL default '0',\n`billsec` int(11) NOT NULL default '0',\n" +
	"`disposition` varchar(45) NOT NULL default '',\n`amaflags` int(11) NOT NULL default '0',\n" +
	"`accountcode` varchar(20) NOT NULL default '',\n`uniqueid` varchar(32) NOT NULL default '',\n" +
	"`userfield` varchar(255) NOT NULL default ''\n)"

// tableSource is a database holding an Asterisk-filled cdr table.
type tableSource struct {
	dsn   string  // for OpenCDRTable
	db    *sql.DB // to play Asterisk
	table string
}

func (ts tableSource) add(t *testing.T, calldate time.Time, uid, src string, billsec int) {
	t.Helper()
	_, err := ts.db.Exec("INSERT INTO "+ts.table+" (calldate, src, clid, channel, dstchannel, disposition, billsec, duration, uniqueid, lastapp) "+
		"VALUES (?, ?, ?, 'PJSIP/a-1', 'PJSIP/b-2', 'ANSWERED', ?, ?, ?, 'Dial')",
		calldate.Format("2006-01-02 15:04:05"), src, `"" <`+src+`>`, billsec, billsec+2, uid)
	if err != nil {
		t.Fatal(err)
	}
}

func sqliteSource(t *testing.T) tableSource {
	path := filepath.Join(t.TempDir(), "asterisk.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(originalSchema); err != nil {
		t.Fatal(err)
	}
	return tableSource{dsn: "sqlite:" + path, db: db, table: "cdr"}
}

func mysqlSource(t *testing.T) tableSource {
	dsn := os.Getenv("WEBCALLBACK_TEST_MYSQL")
	testenv.Require(t, dsn != "", "MySQL cdr-table source test: WEBCALLBACK_TEST_MYSQL is not set. Run: eval \"$(.ci/db.sh start)\"")
	cfg := mysql.NewConfig()
	rest := strings.TrimPrefix(dsn, "mysql://")
	userinfo, hostdb, _ := strings.Cut(rest, "@")
	cfg.User, cfg.Passwd, _ = strings.Cut(userinfo, ":")
	cfg.Net = "tcp"
	cfg.Addr, cfg.DBName, _ = strings.Cut(hostdb, "/")
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{"DROP TABLE IF EXISTS asterisk_cdr", strings.Replace(originalSchema, "`cdr`", "`asterisk_cdr`", 1),
		"ALTER TABLE `asterisk_cdr` ADD INDEX ( `calldate` )"} {
		if _, err := db.Exec("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return tableSource{dsn: dsn + "?table=asterisk_cdr", db: db, table: "asterisk_cdr"}
}

func TestPollTable(t *testing.T) {
	for name, mk := range map[string]func(*testing.T) tableSource{"sqlite": sqliteSource, "mysql": mysqlSource} {
		t.Run(name, func(t *testing.T) {
			src := mk(t)
			st := storetest.SQLite(t)
			m := New(st, quietLogger())
			m.Overlap = time.Hour
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Second)
			src.add(t, now.Add(-72*time.Hour), "100.1", "13800001001", 30) // old history: read on the first poll
			src.add(t, now.Add(-10*time.Minute), "100.2", "13800001001", 40)
			tbl, err := store.OpenCDRTable(ctx, src.dsn, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			defer tbl.Close()
			if err := m.PollOnce(ctx, tbl); err != nil {
				t.Fatal(err)
			}
			if s := m.Stats(); s.Ingested != 2 {
				t.Fatalf("first poll: %+v", s)
			}
			// A long call that started before the last poll ends now, and a new one.
			src.add(t, now.Add(-30*time.Minute), "100.3", "13800001001", 50)
			src.add(t, now.Add(time.Second), "100.4", "13800002002", 5)
			if err := m.PollOnce(ctx, tbl); err != nil {
				t.Fatal(err)
			}
			if s := m.Stats(); s.Ingested != 4 || s.Duplicates != 1 {
				t.Fatalf("second poll: %+v (the 10-minute-old row is re-read once within the overlap)", s)
			}
			ns, err := st.NumberStats(ctx, "13800001001", now)
			if err != nil || ns.Calls != 3 || ns.Billsec != 120 {
				t.Fatalf("stats = %+v, %v", ns, err)
			}
			if cur, _ := st.CDRCursor(ctx, "table:"+tbl.Name()); cur == "" || strings.Contains(cur, "wcbpass") {
				t.Fatalf("cursor = %q", cur)
			}
		})
	}
}

func TestOpenCDRTableRefusesOwnTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "own.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenCDRTable(context.Background(), "sqlite:"+path, nil); err == nil || !strings.Contains(err.Error(), "own cdr table") {
		t.Fatalf("OpenCDRTable(own) = %v", err)
	}
	if _, err := store.OpenCDRTable(context.Background(), "sqlite:"+path+"?table=x;drop", nil); err == nil {
		t.Fatal("bad table name accepted")
	}
}

func TestRetain(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	for i, at := range []time.Time{old, time.Now()} {
		if _, err := st.InsertCDR(ctx, &store.CDR{CallDate: at, UniqueID: fmt.Sprint("r.", i), Src: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	m := New(st, quietLogger())
	if err := m.Retain(ctx, 0, time.Millisecond); err != nil {
		t.Fatalf("Retain(0) = %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := m.Retain(cctx, 24*time.Hour, time.Millisecond); err != context.DeadlineExceeded {
		t.Fatalf("Retain = %v", err)
	}
	if _, total, err := st.SearchCDRs(ctx, store.CDRFilter{}); err != nil || total != 1 {
		t.Fatalf("after retention: %d CDRs, %v; want 1", total, err)
	}
	if ns, _ := st.NumberStats(ctx, "1", time.Now()); ns.Calls != 2 {
		t.Fatalf("per-number table lost counts on purge: %+v", ns)
	}
}
