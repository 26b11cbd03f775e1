package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/store"
)

// A store on a SQLite file: Admit reserves a request under the eligibility
// rules, the CDR rows Asterisk writes for the call feed the per-number
// table, and the same caller is refused for the rest of the day.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "wcb.db")) // or mysql://..., postgres://...
	if err != nil {
		panic(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		panic(err)
	}

	rules := store.DefaultRules() // one connected call per caller per day, days in UTC, ...
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	request := func(id string) *callback.Request {
		return &callback.Request{ID: id, Caller: "+8613800001001", Callee: "+8613800002002",
			CallerDial: "13800001001", CalleeDial: "13800002002", Lang: "en", State: callback.StateQueued, CreatedAt: now}
	}
	d, err := st.Admit(ctx, request("req-1"), &rules, now)
	fmt.Println("first request allowed:", d.Allowed, err)

	// The call's CDR rows, as the CDR monitor stores them: the caller leg
	// (it answered and was bridged to the callee for 19 s) and the end of
	// the dialplan, whose userfield names our request.
	for _, c := range []*store.CDR{
		{CallDate: now.Add(time.Second), Src: "13800001001", Dst: "s", DContext: "webcallback",
			Channel: "PJSIP/gateway-0000001b", DstChannel: "PJSIP/gateway-0000001c", LastApp: "Dial",
			Duration: 20, Billsec: 19, Disposition: "ANSWERED", UniqueID: "req-1"},
		{CallDate: now.Add(21 * time.Second), Src: "13800001001", Dst: "s", DContext: "webcallback",
			Channel: "PJSIP/gateway-0000001b", LastApp: "Hangup", Duration: 2, Billsec: 2, Disposition: "ANSWERED",
			UniqueID: "req-1", UserField: "Hangupcause:16;wcb:req-1"},
	} {
		if _, err := st.InsertCDR(ctx, c); err != nil {
			panic(err)
		}
	}
	ns, err := st.NumberStats(ctx, "+8613800001001", now.Add(time.Hour))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %d call, %d answered, %d s today\n", ns.Number, ns.TodayCalls, ns.TodayAnswered, ns.TodayBillsec)

	d, err = st.Admit(ctx, request("req-2"), &rules, now.Add(2*time.Hour))
	fmt.Println("second request allowed:", d.Allowed, d.Rule, d.RetryAt.Format(time.RFC3339), err)
	// Output:
	// first request allowed: true <nil>
	// +8613800001001: 1 call, 1 answered, 19 s today
	// second request allowed: false caller_connected_per_day 2026-11-26T00:00:00Z <nil>
}
