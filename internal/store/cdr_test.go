package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/testenv"
)

// fixtureCall returns the cdr rows Asterisk 22 wrote for the
// timeout-direct fixture (README §9), with the request id as uniqueid (the
// Originate ChannelId) and our dialplan's userfield.
func fixtureCall(id string, start time.Time) []*CDR {
	return []*CDR{
		{CallDate: start, CLID: `"" <13800001001>`, Src: "13800001001", Dst: "s", DContext: "webcallback",
			Channel: "PJSIP/gateway-0000001b", DstChannel: "PJSIP/gateway-0000001c", LastApp: "Dial",
			LastData: "PJSIP/13800002002@gateway,,gL(15000:5000:5000)", Duration: 20, Billsec: 19, Disposition: "ANSWERED",
			AMAFlags: 3, UniqueID: id},
		{CallDate: start.Add(20 * time.Second), CLID: `"" <13800001001>`, Src: "13800001001", Dst: "s", DContext: "webcallback",
			Channel: "PJSIP/gateway-0000001b", LastApp: "Hangup", Duration: 2, Billsec: 2, Disposition: "ANSWERED",
			AMAFlags: 3, UniqueID: id, UserField: "Hangupcause:16;wcb:" + id, RequestID: id},
	}
}

func TestInsertCDR(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		const id = "5b0e9a52-7c1e-4c57-9f57-2f1e6f0e1a01"
		r := newReq(id, "+8613800001001", "+8613800002002", day0)
		if _, err := s.Admit(ctx, r, nil, day0); err != nil {
			t.Fatal(err)
		}
		rows := fixtureCall(id, day0.Add(time.Second))
		for _, c := range rows {
			if ok, err := s.InsertCDR(ctx, c); err != nil || !ok {
				t.Fatalf("insert = %v, %v", ok, err)
			}
			if ok, err := s.InsertCDR(ctx, c); err != nil || ok { // idempotent
				t.Fatalf("insert again = %v, %v; want a duplicate", ok, err)
			}
		}
		// A failed call of the same caller (caller busy: one AppDial2 row) and a
		// foreign call (no request) of another number.
		if n, err := s.InsertCDRs(ctx, []*CDR{
			{CallDate: day0.Add(time.Hour), Src: "13800001001", Channel: "PJSIP/gateway-0000001d", LastApp: "AppDial2",
				Disposition: "BUSY", UniqueID: "6c1f0b63-8d2f-4d68-a068-3f2f7f1f2b12"},
			{CallDate: day0.Add(2 * time.Hour), CLID: `"Bob" <+86 10 1234 5678>`, Src: "", Channel: "PJSIP/ext-1",
				DstChannel: "PJSIP/ext-2", Disposition: "ANSWERED", Billsec: 33, UniqueID: "1795625800.1", LinkedID: "1795625800.1"},
		}); err != nil || n != 2 {
			t.Fatalf("InsertCDRs = %d, %v", n, err)
		}
		ns, err := s.NumberStats(ctx, "+8613800001001", day0)
		if err != nil {
			t.Fatal(err)
		}
		if ns.Calls != 1 || ns.Answered != 1 || ns.Billsec != 19 || ns.TodayCalls != 1 || ns.TodayBillsec != 19 ||
			ns.LastCallAt == nil || !ns.LastCallAt.Equal(day0.Add(21*time.Second)) {
			t.Fatalf("caller stats = %+v", ns)
		}
		// The busy row's uniqueid names no request: counted under its src digits.
		if ns, _ := s.NumberStats(ctx, "13800001001", day0); ns.Calls != 1 || ns.Answered != 0 {
			t.Fatalf("foreign-row stats = %+v", ns)
		}
		if ns, _ := s.NumberStats(ctx, "+861012345678", day0); ns.Calls != 1 || ns.Answered != 1 || ns.Billsec != 33 {
			t.Fatalf("clid-number stats = %+v", ns)
		}
		if ns, _ := s.NumberStats(ctx, "+8613800001001", day0.AddDate(0, 0, 1)); ns.TodayCalls != 0 || ns.Calls != 1 {
			t.Fatalf("next day stats = %+v", ns)
		}
		got, total, err := s.SearchCDRs(ctx, CDRFilter{RequestID: id})
		if err != nil || total != 2 || len(got) != 2 {
			t.Fatalf("search by request = %d/%d, %v", len(got), total, err)
		}
		want := *rows[1]
		if g := got[0]; !g.CallDate.Equal(want.CallDate) || g.UserField != want.UserField || g.RequestID != id || g.AMAFlags != 3 ||
			g.Billsec != 2 || g.CLID != want.CLID {
			t.Fatalf("newest row = %+v", g)
		}
		for _, tc := range []struct {
			f           CDRFilter
			total, rows int
		}{
			{CDRFilter{}, 4, 4},
			{CDRFilter{Number: "1380000"}, 3, 3},
			{CDRFilter{Number: "1234 5678"}, 1, 1},
			{CDRFilter{Number: "%"}, 0, 0},
			{CDRFilter{Disposition: "BUSY"}, 1, 1},
			{CDRFilter{From: day0.Add(time.Hour)}, 2, 2},
			{CDRFilter{To: day0.Add(time.Hour)}, 2, 2},
			{CDRFilter{Limit: 1}, 4, 1},
			{CDRFilter{Offset: 3}, 4, 1},
		} {
			rs, total, err := s.SearchCDRs(ctx, tc.f)
			if err != nil || total != tc.total || len(rs) != tc.rows {
				t.Errorf("SearchCDRs(%+v) = %d rows of %d, %v; want %d of %d", tc.f, len(rs), total, err, tc.rows, tc.total)
			}
		}
		// Hostile text is kept within the columns and valid on every backend.
		long := strings.Repeat("é", 300) + "\x00\xff"
		if _, err := s.InsertCDR(ctx, &CDR{CallDate: day0, UniqueID: long, CLID: long, Src: long, UserField: long, LastData: long}); err != nil {
			t.Fatalf("hostile row: %v", err)
		}
	})
}

// genHistory makes a CDR history of about n rows over ten days: calls of
// our requests (ids in reqs) with the fixtures' two rows, failed calls with
// one, foreign calls with linkedid whose rows sometimes carry different
// numbers, and 1% rows delivered twice. The order is shuffled, so rows of
// a call arrive out of order.
func genHistory(n int, reqs []*callback.Request, seed uint64) []*CDR {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []*CDR
	for call := 0; len(out) < n; call++ {
		start := day0.AddDate(0, 0, -rng.IntN(10)).Add(time.Duration(rng.IntN(86400)) * time.Second)
		src := fmt.Sprintf("138%08d", rng.IntN(2000))
		switch k := rng.IntN(10); {
		case k < 3 && len(reqs) > 0: // ours
			r := reqs[rng.IntN(len(reqs))]
			id := fmt.Sprintf("%s-%d", r.ID, call) // a request is linked via userfield only
			rows := fixtureCall(id, start)
			rows[1].UserField = "Hangupcause:16;wcb:" + r.ID
			rows[1].RequestID = r.ID
			rows[0].UniqueID, rows[1].UniqueID = r.ID, r.ID
			rows[0].Sequence, rows[1].Sequence = 2*call+1, 2*call+2
			if rng.IntN(2) == 0 {
				rows[0].Disposition, rows[0].Billsec = "NO ANSWER", 3
			} else if rng.IntN(4) > 0 { // the dialplan's talk time, on the row after Dial
				talk := rng.IntN(rows[0].Billsec)
				rows[1].TalkSec = &talk
			}
			out = append(out, rows...)
		case k < 5: // failed before answer
			out = append(out, &CDR{CallDate: start, Src: src, Channel: "PJSIP/gw-x", LastApp: "AppDial2", Disposition: "BUSY",
				UniqueID: fmt.Sprintf("17956.%d", call)})
		default: // foreign, 1-3 rows sharing a linkedid
			lid := fmt.Sprintf("17957.%d", call)
			for j := 0; j <= rng.IntN(3); j++ {
				c := &CDR{CallDate: start.Add(time.Duration(j*rng.IntN(40)) * time.Second), Src: src, CLID: "<" + src + ">",
					Channel: fmt.Sprintf("PJSIP/ext-%d", j), UniqueID: fmt.Sprintf("%s.%d", lid, j), LinkedID: lid,
					Disposition: "ANSWERED", Billsec: rng.IntN(300)}
				if rng.IntN(2) == 0 {
					c.DstChannel = "PJSIP/trunk-1"
				}
				if rng.IntN(20) == 0 { // a row of another number, possibly the earliest
					c.Src = fmt.Sprintf("139%08d", rng.IntN(100))
					c.CallDate = start.Add(-time.Duration(rng.IntN(3)) * time.Second)
				}
				out = append(out, c)
			}
		}
	}
	for i := 0; i < len(out)/100; i++ {
		c := *out[rng.IntN(len(out))]
		out = append(out, &c)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// snapshot dumps the aggregate tables in key order.
func snapshot(t *testing.T, s *DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, q := range map[string]string{
		"cdr_call":     "SELECT callkey, number, day, first_ms, first_dedup, last_ms, answered, billsec, talksec, nrows FROM cdr_call ORDER BY callkey",
		"number_stats": "SELECT number, calls, answered, billsec, last_call_ms FROM number_stats ORDER BY number",
		"number_daily": "SELECT number, day, calls, answered, billsec FROM number_daily ORDER BY number, day",
	} {
		rows, err := s.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, "%v|", v)
			}
			out[table] = append(out[table], b.String())
		}
		rows.Close()
	}
	return out
}

// TestRebuildEqualsIncremental ingests a generated history incrementally
// (shuffled, with duplicates) and checks that a rebuild from cdr gives the
// very same tables. 10k rows (5 batches of InsertCDRs, a few thousand
// calls over 10 days, a hundred duplicates); 5k under -race (which slows
// the pure-Go SQLite ~10x). WEBCALLBACK_TEST_FULL=1 runs 100k on every
// backend, the scale of a year of a busy service (20 s on SQLite, minutes
// on the servers, where the round trips dominate).
func TestRebuildEqualsIncremental(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		n := 10000
		switch {
		case testenv.Full():
			n = 100000
		case raceEnabled:
			n = 5000
		}
		var reqs []*callback.Request
		for i := 0; i < 200; i++ {
			r := newReq(fmt.Sprintf("r%04d", i), fmt.Sprintf("+86138%08d", i), "+8613800009999", day0.Add(-time.Hour))
			if _, err := s.Admit(ctx, r, nil, day0); err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, r)
		}
		rows := genHistory(n, reqs, 1)
		start := time.Now()
		for i := 0; i < len(rows); i += 2000 {
			if _, err := s.InsertCDRs(ctx, rows[i:min(i+2000, len(rows))]); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("ingested %d rows in %v", len(rows), time.Since(start).Round(time.Millisecond))
		inc := snapshot(t, s)
		if len(inc["number_stats"]) < 100 || len(inc["cdr_call"]) < n/4 {
			t.Fatalf("history too small: %d numbers, %d calls", len(inc["number_stats"]), len(inc["cdr_call"]))
		}
		start = time.Now()
		if err := s.RebuildNumberStats(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("rebuilt in %v", time.Since(start).Round(time.Millisecond))
		reb := snapshot(t, s)
		for table := range inc {
			if !reflect.DeepEqual(inc[table], reb[table]) {
				a, r := inc[table], reb[table]
				for i := 0; i < min(len(a), len(r)); i++ {
					if a[i] != r[i] {
						t.Fatalf("%s differs at row %d (of %d/%d):\n incremental %s\n rebuild     %s", table, i, len(a), len(r), a[i], r[i])
					}
				}
				t.Fatalf("%s: %d incremental rows, %d rebuilt", table, len(a), len(r))
			}
		}
	})
}

func TestCSV(t *testing.T) {
	rows := fixtureCall("id-1", time.Date(2026, 11, 25, 16, 55, 24, 0, time.UTC))
	rows[0].CLID = `"A ""b""" <1>`
	rows[1].LastData = "x\r\ny"
	var buf bytes.Buffer
	if err := WriteCDRsCSV(&buf, []CDR{*rows[0], *rows[1]}); err != nil {
		t.Fatal(err)
	}
	want := `"","13800001001","s","webcallback","""A """"b"""""" <1>","PJSIP/gateway-0000001b","PJSIP/gateway-0000001c","Dial","PJSIP/13800002002@gateway,,gL(15000:5000:5000)","2026-11-25 16:55:24","2026-11-25 16:55:25","2026-11-25 16:55:44",20,19,"ANSWERED","DOCUMENTATION","id-1","","","",0
"","13800001001","s","webcallback",""""" <13800001001>","PJSIP/gateway-0000001b","","Hangup","x  y","2026-11-25 16:55:44","2026-11-25 16:55:44","2026-11-25 16:55:46",2,2,"ANSWERED","DOCUMENTATION","id-1","Hangupcause:16;wcb:id-1","","",0
`
	if got := buf.String(); got != want {
		t.Fatalf("cdr csv:\n%s\nwant:\n%s", got, want)
	}
	last := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	buf.Reset()
	if err := WriteNumberStatsCSV(&buf, []NumberStats{{Number: "+8613800001001", Calls: 3, Answered: 1, Billsec: 19, LastCallAt: &last,
		TodayCalls: 1, Blocked: true}, {Number: "a,b"}}); err != nil {
		t.Fatal(err)
	}
	want = NumberStatsCSVHeader + "\n+8613800001001,3,1,19,2026-11-25T10:00:00Z,1,0,0,true,false\n\"a,b\",0,0,0,,0,0,0,false,false\n"
	if buf.String() != want {
		t.Fatalf("number stats csv:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func FuzzNumberOf(f *testing.F) {
	for _, s := range []string{"13800001001", `"" <13800001001>`, "+86 10 1234", "<>", "<+>", "abc<12", "\xff<1\x00>"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, src, clid string) {
		n := numberOf(src, clid)
		if len(n) > 32 || strings.Trim(n, "+0123456789") != "" || strings.LastIndexByte(n, '+') > 0 || n == "+" {
			t.Fatalf("numberOf(%q, %q) = %q", src, clid, n)
		}
	})
}
