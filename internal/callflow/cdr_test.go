package callflow

import (
	"errors"
	"strings"
	"testing"
	"time"

	"webcallback/ami"
)

func TestParseCDRFixtures(t *testing.T) {
	// Every Cdr event of the real transcripts parses; the second row of a
	// failed callee call carries the userfield set after Dial.
	for _, tc := range []struct {
		fixture   string
		rows      int
		userfield string
		billsec   []int
	}{
		{"callee-busy-direct", 2, "Hangupcause:17", []int{3, 0}},
		{"timeout-direct", 2, "Hangupcause:16", []int{19, 2}},
		{"caller-busy-direct", 1, "", []int{0}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			var got []string
			var bill []int
			for _, m := range readFixture(t, tc.fixture) {
				if m.Event() != "Cdr" {
					continue
				}
				c, err := parseCDR(m, time.UTC)
				if err != nil {
					t.Fatal(err)
				}
				if c.UniqueID == "" || c.CallDate.IsZero() || c.AMAFlags != 3 || c.RequestID != "" {
					t.Errorf("row %+v", c)
				}
				got = append(got, c.UserField)
				bill = append(bill, c.Billsec)
			}
			if len(got) != tc.rows || !strings.Contains(strings.Join(got, "|"), tc.userfield) {
				t.Fatalf("userfields %q, want %d rows with %q", got, tc.rows, tc.userfield)
			}
			for i := range bill {
				if bill[i] != tc.billsec[i] {
					t.Fatalf("billsec %v, want %v", bill, tc.billsec)
				}
			}
		})
	}
}

func TestParseCDRRequestID(t *testing.T) {
	const id = "6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c"
	base := []string{"Event", "Cdr", "StartTime", "2026-11-25 16:56:12", "Duration", "4", "BillableSeconds", "3"}
	tests := []struct {
		name   string
		kv     []string
		want   string
		errBad bool
	}{
		{"userfield", []string{"UniqueID", "1795625772.60", "UserField", "Hangupcause:17;wcb:" + id}, id, false},
		{"uniqueid is the request id", []string{"UniqueID", id, "UserField", ""}, id, false},
		{"linkedid", []string{"UniqueID", "1795625772.61", "Linkedid", id}, id, false},
		{"not ours", []string{"UniqueID", "1795625772.60", "UserField", "Hangupcause:16;wcb:../../etc"}, "", false},
		{"no uniqueid", []string{"UserField", "x"}, "", true},
		{"bad time", []string{"UniqueID", id, "StartTime", "yesterday"}, "", true},
		{"negative duration", []string{"UniqueID", id, "Duration", "-1"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ami.NewMessage(base...)
			for i := 0; i < len(tc.kv); i += 2 {
				m.Set(tc.kv[i], tc.kv[i+1])
			}
			c, err := parseCDR(m, time.UTC)
			if tc.errBad {
				if !errors.Is(err, errBadCDR) {
					t.Fatalf("err = %v, want errBadCDR", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RequestID != tc.want {
				t.Fatalf("RequestID = %q, want %q", c.RequestID, tc.want)
			}
		})
	}
}

// FuzzParseCDR: any Cdr event is a row or a clear error, never a panic,
// and no column exceeds the schema's width.
func FuzzParseCDR(f *testing.F) {
	f.Add("1795625772.60", "2026-11-25 16:56:12", "4", "3", "Hangupcause:17;wcb:6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c", "DOCUMENTATION")
	f.Add("", "", "", "", "", "")
	f.Add("x", "2026-13-45 99:99:99", "1e9", "-3", ";wcb:;wcb:", "billing")
	f.Fuzz(func(t *testing.T, uid, start, dur, bill, uf, ama string) {
		m := ami.NewMessage("Event", "Cdr", "UniqueID", uid, "StartTime", start, "Duration", dur,
			"BillableSeconds", bill, "UserField", uf, "AMAFlags", ama)
		c, err := parseCDR(m, time.UTC)
		if err != nil {
			if !errors.Is(err, errBadCDR) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if len(c.UserField) > maxCDRField || len(c.UniqueID) > maxCDRField || c.Duration < 0 || c.Billsec < 0 {
			t.Fatalf("row out of bounds: %+v", c)
		}
		if c.RequestID != "" && !isRequestID(c.RequestID) {
			t.Fatalf("RequestID %q", c.RequestID)
		}
	})
}
