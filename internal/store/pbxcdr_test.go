package store

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func intp(n int) *int { return &n }

// TestPBXCDRs: rows the PBX writes into the cdr table itself (Asterisk's
// database backend, the sandbox's --cdr-db) are ingested once, linked to
// their request, counted with the talk time rather than Asterisk's
// billsec, and a copy of a stored CDR is dropped. A rebuild gives the
// same tables.
func TestPBXCDRs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		const id = "7d2e9a52-7c1e-4c57-9f57-2f1e6f0e1a02"
		if _, err := s.Admit(ctx, newReq(id, "+8613800001001", "+8613800002002", day0), nil, day0); err != nil {
			t.Fatal(err)
		}
		// Asterisk's rows of a 15 s talk: the Dial row's billsec (22) counts
		// from the caller's answer; the dialplan's talksec lands on the next row.
		call := fixtureCall(id, day0.Add(time.Second))
		call[0].Billsec, call[0].Sequence = 22, 41
		call[1].TalkSec, call[1].Sequence, call[1].RequestID = intp(15), 42, ""
		for _, c := range call {
			if err := s.WritePBXCDR(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if ns, err := s.NumberStats(ctx, "+8613800001001", day0); err != nil || ns.Calls != 0 {
			t.Fatalf("before ingestion: %+v, %v; want nothing counted", ns, err)
		}
		rows, err := s.CallCDRs(ctx, id)
		if err != nil || len(rows) != 2 || rows[1].TalkSec == nil || *rows[1].TalkSec != 15 || rows[1].RequestID != id {
			t.Fatalf("CallCDRs before ingestion = %+v, %v", rows, err)
		}
		for i, want := range []int{2, 0} { // the second run finds nothing new
			n, dup, pending, err := s.IngestPBXCDRs(ctx, 100)
			if err != nil || n != want || dup != 0 || pending {
				t.Fatalf("ingest #%d = %d, %d, %v, %v; want %d new", i+1, n, dup, pending, err, want)
			}
		}
		ns, err := s.NumberStats(ctx, "+8613800001001", day0)
		if err != nil || ns.Calls != 1 || ns.Answered != 1 || ns.Billsec != 15 || ns.TodayBillsec != 15 {
			t.Fatalf("stats = %+v, %v; want 1 call, 1 answered, billsec 15 (talk, not Asterisk's 22)", ns, err)
		}
		got, _, err := s.SearchCDRs(ctx, CDRFilter{RequestID: id})
		if err != nil || len(got) != 2 || got[0].Billsec != 2 || got[1].Billsec != 22 || *got[0].TalkSec != 15 {
			t.Fatalf("stored rows = %+v, %v; want Asterisk's billsec kept beside talksec", got, err)
		}
		if !got[1].CallDate.Equal(day0.Add(time.Second)) {
			t.Fatalf("calldate = %v, want %v", got[1].CallDate, day0.Add(time.Second))
		}
		// The same CDR written again (two backends at once): dropped.
		if err := s.WritePBXCDR(ctx, call[0]); err != nil {
			t.Fatal(err)
		}
		if n, dup, _, err := s.IngestPBXCDRs(ctx, 100); err != nil || n != 0 || dup != 1 {
			t.Fatalf("ingest a copy = %d new, %d duplicates, %v; want 0, 1", n, dup, err)
		}
		var count int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM cdr").Scan(&count); err != nil || count != 2 {
			t.Fatalf("cdr rows = %d, %v; want 2", count, err)
		}
		// A batch smaller than the backlog reports more pending.
		for i := 0; i < 3; i++ {
			c := &CDR{CallDate: day0.Add(time.Hour), Src: "13900000001", Channel: "PJSIP/ext-1", Disposition: "NO ANSWER",
				UniqueID: "1795625800." + string(rune('1'+i))}
			if err := s.WritePBXCDR(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if n, _, pending, err := s.IngestPBXCDRs(ctx, 2); err != nil || n != 2 || !pending {
			t.Fatalf("ingest 2 of 3 = %d, pending %v, %v", n, pending, err)
		}
		if n, _, pending, err := s.IngestPBXCDRs(ctx, 2); err != nil || n != 1 || pending {
			t.Fatalf("ingest the last = %d, pending %v, %v", n, pending, err)
		}
		before := snapshot(t, s)
		if err := s.RebuildNumberStats(ctx); err != nil {
			t.Fatal(err)
		}
		if after := snapshot(t, s); !reflect.DeepEqual(before, after) {
			t.Fatalf("rebuild differs:\nincremental %v\nrebuild     %v", before, after)
		}
	})
}

// TestForeignNumbersNormalized: a CDR without a request (a call placed by
// `webcallback call` without --server, or another system's) is counted
// under the E.164 form of its number, so one number has one stats row.
func TestForeignNumbersNormalized(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s := openBackend(t, b, Options{NormalizeNumber: func(raw string) string {
				if len(raw) == 11 && raw[0] == '1' {
					return "+86" + raw // the test's stand-in for policy.ParseNumber with --region CN
				}
				return ""
			}})
			emptyDB(t, s, b)
			ctx := context.Background()
			const id = "8e3f9a52-7c1e-4c57-9f57-2f1e6f0e1a03"
			if _, err := s.Admit(ctx, newReq(id, "+8613800001001", "+8613800002002", day0), nil, day0); err != nil {
				t.Fatal(err)
			}
			ours := fixtureCall(id, day0.Add(time.Second))
			foreign := &CDR{CallDate: day0.Add(time.Hour), Src: "13800001001", Channel: "PJSIP/gateway-9", DstChannel: "PJSIP/gateway-a",
				Disposition: "ANSWERED", Billsec: 9, UniqueID: "1795625800.9", TalkSec: intp(4)}
			odd := &CDR{CallDate: day0.Add(2 * time.Hour), Src: "8001", Channel: "PJSIP/ext-1", Disposition: "NO ANSWER", UniqueID: "1795625800.10"}
			if _, err := s.InsertCDRs(ctx, append(ours, foreign, odd)); err != nil {
				t.Fatal(err)
			}
			ns, err := s.NumberStats(ctx, "+8613800001001", day0)
			if err != nil || ns.Calls != 2 || ns.Answered != 2 {
				t.Fatalf("stats = %+v, %v; want both calls under +8613800001001", ns, err)
			}
			all, err := s.ListNumberStats(ctx, 100, 0)
			if err != nil || len(all) != 2 || all[0].Number != "8001" || all[1].Number != "+8613800001001" {
				t.Fatalf("stats rows = %+v, %v; want +8613800001001 and the unparsable 8001 as digits", all, err)
			}
		})
	}
}

// TestOneTimeZonePerColumn: cdr.calldate and skypecallback.last_call show
// the same moment as the same UTC wall clock on every backend, whatever
// the database session's zone.
func TestOneTimeZonePerColumn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, s *DB) {
		ctx := context.Background()
		at := day0.Add(3*time.Hour + 7*time.Second)
		c := &CDR{CallDate: at, Src: "8002", Channel: "PJSIP/ext-2", Disposition: "NO ANSWER", UniqueID: "1795625801.1"}
		if _, err := s.InsertCDR(ctx, c); err != nil {
			t.Fatal(err)
		}
		// A reader whose session is in another zone sees the same.
		conn, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		switch b.name {
		case "mysql":
			_, err = conn.ExecContext(ctx, "SET time_zone = '+08:00'")
		case "postgres":
			_, err = conn.ExecContext(ctx, "SET TIME ZONE 'Asia/Shanghai'")
		}
		if err != nil {
			t.Fatal(err)
		}
		var cd, lc any
		if err := conn.QueryRowContext(ctx, "SELECT calldate FROM cdr").Scan(&cd); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRowContext(ctx, "SELECT last_call FROM skypecallback WHERE number = '8002'").Scan(&lc); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]any{"cdr.calldate": cd, "skypecallback.last_call": lc} {
			got, err := parseWall(v, time.UTC)
			if err != nil || !got.Equal(at) {
				t.Errorf("%s = %v (%v), want the UTC wall clock %s", name, v, err, at.Format(calldateLayout))
			}
		}
	})
}
