package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"webcallback/internal/callback"
	"webcallback/internal/store"
	"webcallback/internal/store/storetest"
	"webcallback/internal/wcbproto"
)

// TestLostInstanceAndNode: an instance died with calls on a PBX node that
// died too (no instance is connected to it, so ClaimOrphans never claims
// them). Real rows in the shared database: the dead instance's expired
// lease and its unfinished requests, last changed an hour ago (longer than
// the longest call the live instances' settings allow, plus the lease
// TTL). Two live instances on another node sweep: each old call is
// claimed once and finished without AMI: the one whose CDR rows the PBX
// wrote from them, the others failed / pbx_lost with the talk until the
// dead owner's last lease renewal; their service-wide slot is freed. A
// request of the same dead instance changed just now is left alone: its
// call may still be up somewhere.
func TestLostInstanceAndNode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, run, dead, node, t0 := deadInstance(t, dsn)
		// Its calls: one talking since t0+40s (14 s until the last
		// renewal), one ringing the callee, one whose end the PBX wrote
		// into the cdr table (a 12 s talk) and, changed just now, one
		// talking that may still be up.
		put := func(callee string, s callback.State, at time.Time) *callback.Request {
			return putLost(t, st, dead, node, "lost-"+run+"-"+callee, callee, s, t0, at)
		}
		talking := put("13800002001", callback.StateConnected, t0.Add(40*time.Second))
		ringing := put("13822221002", callback.StateCallingCallee, t0)
		ended := put("13800002003", callback.StateConnected, t0.Add(20*time.Second))
		young := put("13800002004", callback.StateConnected, time.Now())
		talk := 12
		for _, c := range []store.CDR{
			{CallDate: t0.Add(time.Second), Src: "13800001001", Dst: "13800002003", DContext: "webcallback", Channel: "PJSIP/gateway-1",
				DstChannel: "PJSIP/gateway-2", LastApp: "Dial", Duration: 32, Billsec: 27, Disposition: "ANSWERED",
				UniqueID: ended.ID, LinkedID: ended.ID, Sequence: 1, TalkSec: &talk},
			{CallDate: t0.Add(time.Second), Src: "13800001001", Dst: "s", DContext: "webcallback", Channel: "PJSIP/gateway-1",
				LastApp: "Playback", Duration: 35, Billsec: 30, Disposition: "ANSWERED", UniqueID: ended.ID, LinkedID: ended.ID,
				Sequence: 2, UserField: wcbproto.UserfieldPrefix + "16;" + wcbproto.UserfieldIDPrefix + ended.ID},
		} {
			if err := st.WritePBXCDR(ctx, &c); err != nil {
				t.Fatal(err)
			}
		}

		// Two live instances, on a node of their own (the sandbox PBX).
		insts := startInstances(t, 2, dsn, startPBX(t, 0.01), "--caller-ring", "30s", "--callee-ring", "30s")
		check := func(id string, s callback.State, reason callback.Reason, billsec int) {
			t.Helper()
			waitFinal(t, insts[0].URL, id)
			got, err := st.GetRequest(ctx, id) // the API does not show the owner
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s/%s billsec %d, owner %s", id, got.State, got.Reason, got.Billsec, got.Instance)
			if got.State != s || got.Reason != reason || got.Billsec != billsec {
				t.Errorf("%s: %s/%s billsec %d, want %s/%s billsec %d", id, got.State, got.Reason, got.Billsec, s, reason, billsec)
			}
			if got.Instance != insts[0].Settings.Instance && got.Instance != insts[1].Settings.Instance {
				t.Errorf("%s: finished by %q, not a live instance", id, got.Instance)
			}
			finals := 0
			for _, h := range got.History {
				if h.State.Final() {
					finals++
				}
			}
			if finals != 1 {
				t.Errorf("%s: %d final transitions, want 1: %+v", id, finals, got.History)
			}
		}
		check(talking.ID, callback.StateFailed, callback.ReasonPBXLost, 14)
		check(ringing.ID, callback.StateFailed, callback.ReasonPBXLost, 0)
		check(ended.ID, callback.StateCompleted, callback.ReasonCalleeHangup, 12)

		// The sweep that claimed those saw the young one and left it.
		got, err := st.GetRequest(ctx, young.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State.Final() || got.Instance != dead {
			t.Errorf("young call of the dead instance: %s, owner %s; want it left to its node's instances", got.State, got.Instance)
		}
		// The slots of the finished calls are freed (by the engine, or by
		// the store's sweep of final requests): only the young one's is left.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ns, err := st.NodeStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ns[node].Slots == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: %d capacity slots held, want 1 (the young call's)", node, ns[node].Slots)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// putLost stores a request of instance dead on node as that instance would
// have: created at t0, calling the caller, then the callee, and, for s =
// connected, connected at at (its last change, else at t0+10s), holding a
// service-wide slot on node.
func putLost(t *testing.T, st *store.DB, dead, node, id, callee string, s callback.State, t0, at time.Time) *callback.Request {
	t.Helper()
	ctx := context.Background()
	r := &callback.Request{ID: id, Caller: "+8613800001001", Callee: "+86" + callee,
		CallerDial: "13800001001", CalleeDial: callee, Lang: "en", State: callback.StateQueued, CreatedAt: t0,
		History: []callback.Transition{{State: callback.StateQueued, At: t0}}}
	if d, err := st.Admit(ctx, r, nil, t0); err != nil || !d.Allowed {
		t.Fatalf("admit: %v %+v", err, d)
	}
	r.Instance, r.Node = dead, node
	steps := []callback.Transition{{State: callback.StateCallingCaller, At: t0.Add(time.Second)},
		{State: callback.StateCallerAnswered, At: t0.Add(5 * time.Second)}, {State: callback.StateCallingCallee, At: t0.Add(10 * time.Second)}}
	if s == callback.StateConnected {
		steps = append(steps, callback.Transition{State: callback.StateConnected, At: at})
		c := at
		r.ConnectedAt = &c
	}
	for _, step := range steps {
		r.State, r.UpdatedAt = step.State, step.At
		r.History = append(r.History, step)
	}
	a := t0.Add(5 * time.Second)
	r.AnsweredAt = &a
	if err := st.UpdateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireCapacity(ctx, node, r.ID, 1000, 0, t0); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestClaimLostOnce: four instances sweep at once for the same lost calls
// of a dead instance: each call is claimed by exactly one of them (row
// locks), and a call changed recently by none.
func TestClaimLostOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, run, dead, node, t0 := deadInstance(t, dsn)
		const n = 20
		for i := range n {
			putLost(t, st, dead, node, fmt.Sprintf("once-%s-%02d", run, i), "13800002001", callback.StateConnected, t0, t0.Add(20*time.Second))
		}
		young := putLost(t, st, dead, node, "once-"+run+"-young", "13800002001", callback.StateConnected, t0, time.Now())
		now := time.Now()
		claimed := make([][]store.LostClaim, 4)
		var wg sync.WaitGroup
		for k := range claimed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each claimer is alive: its lease runs.
				me := fmt.Sprintf("live-%s-%d", run, k)
				if err := st.RenewLease(ctx, me, "elsewhere:5038", now.Add(time.Hour)); err != nil {
					t.Error(err)
					return
				}
				cs, err := st.ClaimLost(ctx, me, now.Add(-10*time.Minute), now)
				if err != nil {
					t.Error(err)
				}
				claimed[k] = cs
			}()
		}
		wg.Wait()
		seen := map[string]int{}
		for k, cs := range claimed {
			t.Logf("claimer %d: %d calls", k, len(cs))
			for _, c := range cs {
				seen[c.Request.ID]++
				if want := t0.Add(time.Minute); !c.LeaseExpired.Equal(want) {
					t.Errorf("%s: lease expired %v, want %v", c.Request.ID, c.LeaseExpired, want)
				}
			}
		}
		if len(seen) != n {
			t.Errorf("%d calls claimed, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("%s claimed %d times", id, k)
			}
		}
		if seen[young.ID] != 0 {
			t.Errorf("the young call was claimed")
		}
	})
}

// deadInstance opens the shared database dsn and records in it an instance
// (dead) whose lease on its PBX node ran out at t0+60s, an hour ago: its
// last renewal was at t0+54s. run tells this test run's rows apart.
func deadInstance(t *testing.T, dsn string) (st *store.DB, run, dead, node string, t0 time.Time) {
	t.Helper()
	st = storetest.Open(t, dsn)
	run = runID(t)
	dead, node = "dead-"+run, "lost-"+run+":5038"
	t0 = time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := st.RenewLease(context.Background(), dead, node, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	return st, run, dead, node, t0
}
